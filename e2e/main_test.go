// Package e2e clicks through Keyportal in a real Chromium, driven by
// playwright-go, against a portal and a balena stand-in started in this
// process on loopback. `make e2e` (or `make test`) installs Chromium and the
// Playwright driver and sets KEYPORTAL_E2E=1; without it the tests skip.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/playwright-community/playwright-go"
)

var (
	browser playwright.Browser
	expect  = playwright.NewPlaywrightAssertions(10_000)
	// artifacts collects screenshots for people to look at.
	artifacts = filepath.Join("artifacts")
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KEYPORTAL_E2E") == "" {
		fmt.Println("e2e: KEYPORTAL_E2E is not set; browser tests skip (make e2e runs them)")
		return m.Run()
	}
	driver := os.Getenv("PLAYWRIGHT_DRIVER_PATH")
	if driver == "" {
		home, _ := os.UserHomeDir()
		driver = filepath.Join(home, ".cache", "keyportal", "pw-driver-1.52.0") // where e2e/setup.sh puts it
	}
	pw, err := playwright.Run(&playwright.RunOptions{DriverDirectory: driver, SkipInstallBrowsers: true, Verbose: false})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: playwright driver:", err, "(run e2e/setup.sh)")
		return 1
	}
	defer pw.Stop()
	exe := os.Getenv("KEYPORTAL_CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	browser, err = pw.Chromium.Launch(playwright.BrowserTypeLaunchOptions{
		ExecutablePath: playwright.String(exe),
		Headless:       playwright.Bool(true),
		Args: []string{
			"--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: launch chromium:", err)
		return 1
	}
	defer browser.Close()
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}
