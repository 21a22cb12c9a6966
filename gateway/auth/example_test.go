package auth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/crossledger/crossledger/gateway/auth"
)

func Example() {
	dir, _ := os.MkdirTemp("", "auth-example")
	defer os.RemoveAll(dir)
	dev, err := auth.LoadOrCreateDevIssuer(filepath.Join(dir, "gateway", "dev-issuer.pem"), "crossledger-dev")
	if err != nil {
		panic(err)
	}
	a, err := auth.New(context.Background(), []auth.IssuerConfig{dev.Config()})
	if err != nil {
		panic(err)
	}
	defer a.Close()

	token, _ := dev.Issue(auth.Identity{User: "zhang.wei", Department: "public-security", Roles: []auth.Role{auth.RoleAnalyst}}, time.Hour)
	r := httptest.NewRequest("POST", "/graphql", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	id, err := a.Authenticate(r)
	fmt.Println(id.User, id.Department, id.Has(auth.RoleAnalyst), err)

	r.Header.Del("Authorization")
	_, err = a.Authenticate(r)
	fmt.Println(auth.Reason(err))
	fmt.Println(err)
	// Output:
	// zhang.wei public-security true <nil>
	// no-token
	// auth: no bearer token: the request has no Authorization header
}
