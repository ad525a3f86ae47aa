package apikeys

import (
	"context"
	"strings"

	"github.com/keyportal/keyportal/apiclient"
)

// maxCandidates is how many devices a refusal of an ambiguous device
// lists; more are summed up as "and more".
const maxCandidates = 5

// maxDeviceText bounds what a device field may hold: no device name or
// uuid is longer.
const maxDeviceText = 200

// DevicesNamer is the part of balena FindDevice asks.
type DevicesNamer interface {
	DevicesNamed(ctx context.Context, text string, top int) ([]apiclient.Device, error)
}

// FindDevice resolves what a person typed for a device: its exact name,
// its full uuid, or a prefix of its uuid of at least 7 characters (as the
// table shows it), at balena. A full uuid wins; otherwise the text must
// name one device. When it names none or several, problem says so, the
// several by name and short uuid, for the field.
func FindDevice(ctx context.Context, api DevicesNamer, text string) (d apiclient.Device, problem string, err error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return d, "Enter the device's name, or its UUID or at least its first 7 characters.", nil
	case !ValidDeviceText(text):
		return d, "No device has a name or UUID like " + Quote(strings.ToValidUTF8(text, "")) + ".", nil
	}
	devs, err := api.DevicesNamed(ctx, text, maxCandidates+1)
	if err != nil {
		return d, "", err
	}
	for _, dev := range devs {
		if dev.UUID == strings.ToLower(text) {
			return dev, "", nil
		}
	}
	switch len(devs) {
	case 0:
		return d, unreachable(text), nil
	case 1:
		return devs[0], "", nil
	}
	names := make([]string, 0, maxCandidates)
	for _, dev := range devs[:min(len(devs), maxCandidates)] {
		names = append(names, dev.DeviceName+" ("+ShortUUID(dev.UUID)+")")
	}
	list := strings.Join(names, ", ")
	if len(devs) > maxCandidates {
		list += " and more"
	}
	return d, Quote(text) + " names several devices: " + list + ". Enter more of the UUID of the one you mean.", nil
}

// NoDevice says, for a filter that found no keys, whether its device text
// names no device the caller can reach at all (problem, for the field) or
// only devices without such keys ("").
func NoDevice(ctx context.Context, api DevicesNamer, text string) (problem string, err error) {
	devs, err := api.DevicesNamed(ctx, text, 1)
	if err != nil || len(devs) > 0 {
		return "", err
	}
	return unreachable(text), nil
}

// unreachable says that text names no device the caller can reach.
func unreachable(text string) string {
	what := "named " + Quote(text)
	if apiclient.IsUUIDPrefix(text) {
		what += " or with a UUID that starts with it"
	}
	return "You cannot reach a device " + what + "."
}
