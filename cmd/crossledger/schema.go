package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/crossledger/crossledger/schema"
)

func runSchema(_ context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "schema", "schema (check FILE|DIR... | demo [--out DIR])\n\n"+
		"  check  load department schema files (YAML) and report the first error with file, line and reason\n"+
		"  demo   list the built-in demo departments and record types, or write their YAML files to --out")
	out := f.String("out", "", "with demo: directory to write the demo schema files and genesis.yaml to")
	sub, err := parseSubcommand(f, args, 1<<20)
	if err != nil {
		return err
	}
	switch sub {
	case "check":
		if f.NArg() == 0 {
			f.Usage()
			return errUsage
		}
		for _, p := range f.Args() {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if st.IsDir() {
				c, err := schema.LoadDir(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "%s: ok (%d departments)\n", p, len(c.Departments()))
				continue
			}
			d, err := schema.LoadDepartmentFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s: ok (department %s, %d record types)\n", p, d.ID, len(d.Types))
		}
	case "demo":
		c, err := schema.DemoCatalog()
		if err != nil {
			return err
		}
		if *out != "" {
			return writeDemo(*out)
		}
		for _, id := range c.Departments() {
			d, _ := c.Department(id)
			fmt.Fprintf(env.stdout, "%s (%s)\n", d.ID, d.Name)
			for _, rt := range d.Types {
				fmt.Fprintf(env.stdout, "  %s v%d key=%v fields=%d\n", rt.Name, rt.Version, rt.Key, len(rt.Fields))
			}
		}
	default:
		return usageErrorf(f, "unknown schema command %q", sub)
	}
	return nil
}

func writeDemo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := fs.WalkDir(schema.DemoFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(schema.DemoFS(), p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("couldn't write demo schemas: %w", err)
	}
	return nil
}
