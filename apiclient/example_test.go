package apiclient_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
)

// Sign in, learn who you are, list a fleet's provisioning keys by name, and tell a missing key
// by its error code. The stand-in plays balenaCloud here.
func Example() {
	sim, err := balenasim.New(balenasim.Options{Dataset: "demo"})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	client, err := apiclient.New(apiclient.Options{BaseURL: srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	token, err := client.Login(ctx, balenasim.DemoEmail, balenasim.DemoPassword)
	if err != nil {
		log.Fatal(err)
	}
	s := client.As(token)
	me, err := s.WhoAmI(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in as", me.Username)

	page, err := s.ListKeys(ctx, apiclient.KeyQuery{
		Kinds: []apiclient.KeyKind{apiclient.KindProvisioning},
		Fleet: "acme/plant-1",
		Sort:  apiclient.SortName,
		Top:   50,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(page.Total, "keys")
	for _, k := range page.Keys {
		fmt.Printf("%s: %s key of %s\n", k.Name, k.Kind, k.Owner.FleetSlug)
	}

	_, err = s.GetKey(ctx, 424242)
	fmt.Println(apiclient.ErrorCode(err) == apiclient.CodeNotFound)
	// Output:
	// signed in as admin
	// 2 keys
	// plant-1 batch 2024: provisioning key of acme/plant-1
	// plant-1 provisioning: provisioning key of acme/plant-1
	// true
}
