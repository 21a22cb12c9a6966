package main

import (
	"flag"
	"fmt"
)

// parseSubcommand is [subcommand] then [parse] of the flags after the
// sub-verb: "KIND [flags] [up to maxPositional arguments]".
func parseSubcommand(fs *flag.FlagSet, args []string, maxPositional int) (string, error) {
	sub, rest, err := subcommand(fs, args)
	if err != nil {
		return "", err
	}
	return sub, parse(fs, rest, maxPositional)
}

// usageErrorf reports a usage error found after parsing: the message (a
// line; format without the newline) and the usage, on the FlagSet's
// output. It returns errUsage.
func usageErrorf(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), format+"\n", args...)
	fs.Usage()
	return errUsage
}
