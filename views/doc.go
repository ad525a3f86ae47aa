// Package views holds Keyportal's templ templates and the view models they
// render. A view model carries display-ready values; handlers fill it, and
// templates only lay it out.
package views
