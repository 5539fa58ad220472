package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// newFlagSet returns a flag set that reports nothing itself: parseFlags
// does.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(programName+" "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args. For --help it prints the usage to stdout; for a
// bad flag or a stray argument, the error and the usage to stderr. ok is
// false when the command should return code.
func parseFlags(fs *flag.FlagSet, synopsis string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err == nil {
		err = emptyValueFlag(fs)
	}
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, fs, synopsis)
		return exitOK, false
	}
	return checkFlags(fs, synopsis, err, stderr), false
}

// emptyValueFlag reports a flag whose value, when given, asks for
// something (FILE, DIR, DIR|URL or PLANFILE in its usage, a COMMAND, a
// plan ID, batches of N or P%) that the command line gave as "": most
// often a variable that is unset, as in --tls-cert "$CERT". Taken for the
// flag not given, it would turn off what the flag asks for without a word
// (HTTPS, the trust store's replay check, saving the plan, a health check,
// batches, a worker's one plan, its checked packages).
func emptyValueFlag(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		name, _ := flag.UnquoteUsage(f)
		empty := f.Value.String() == ""
		if l, ok := f.Value.(*stringList); ok { // --key k --key ""
			empty = slices.Contains(*l, "")
		}
		if err == nil && empty && slices.Contains([]string{"FILE", "DIR", "DIR|URL", "PLANFILE", "COMMAND", "ID", "N or P%"}, name) {
			err = fmt.Errorf("--%s is empty: give the %s (is the variable that should hold it unset?), or leave the flag out", f.Name, name)
		}
	})
	return err
}

func printUsage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "Usage: %s\n\nFlags:\n", synopsis)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// checkFlags reports err, a flag combination refused after parsing, as a
// usage error with the usage. The error is one line, with what the
// command line gave (a flag's name, a file's path) in it: its control
// characters, line breaks included, are printed escaped
// (topology.Printable), not to the terminal as they are.
func checkFlags(fs *flag.FlagSet, synopsis string, err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: %s\n\n", fs.Name(), topology.Printable(err.Error()))
	printUsage(stderr, fs, synopsis)
	return exitUsage
}

const planSynopsis = `stackup plan (--topology FILE | --tosca FILE --instances FILE) --repo DIR|URL --requests FILE [--out PLANFILE] [flags]

Prints the plan for the requests: the steps, platform first, that upgrade
the deployment to the requested templates. With --out, also saves it for
review; 'stackup apply PLANFILE' then runs exactly that plan.`

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan")
	var in inputFlags
	in.register(fs, true)
	format := fs.String("format", "text", "output `FORMAT`: text, json, mermaid or dot")
	var explain stringList
	fs.Var(&explain, "explain", "also explain the version chosen for platform `NODE` (repeatable; text only)")
	out := fs.String("out", "", "also save the plan, as JSON, in `FILE`, for 'stackup apply FILE'")
	if code, ok := parseFlags(fs, planSynopsis, args, stdout, stderr); !ok {
		return code
	}
	write, err := planWriter(*format)
	if err == nil {
		err = in.check(true)
	}
	if err == nil && len(explain) > 0 && *format != "text" {
		err = errors.New("--explain needs --format text")
	}
	if err == nil && *out != "" {
		err = in.notAnInput("--out", *out)
	}
	if err == nil && *out != "" {
		err = checkOutFile("--out", *out)
	}
	if err != nil {
		return checkFlags(fs, planSynopsis, err, stderr)
	}

	e, plan, err := makePlan(ctx, &in)
	if err != nil {
		return report(stderr, "plan", err)
	}
	defer e.Close()
	// Explain first, so that an unknown node prints no plan.
	var why bytes.Buffer
	for _, node := range explain {
		fmt.Fprintf(&why, "\nWhy %s:\n", node)
		if err := plan.Explain(&why, topology.NodeID(node)); err != nil {
			return report(stderr, "plan", usageErr("--explain %s: %w", node, err))
		}
	}
	if *out != "" {
		var b bytes.Buffer
		if err := plan.WriteJSON(&b); err != nil {
			return report(stderr, "plan", err)
		}
		if err := writeFileAtomic(*out, b.Bytes(), 0o644); err != nil {
			return report(stderr, "plan", failedErr(fmt.Errorf("--out: %w", err)))
		}
	}
	if err := write(plan, stdout); err != nil {
		return report(stderr, "plan", err)
	}
	if _, err := why.WriteTo(stdout); err != nil {
		return report(stderr, "plan", err)
	}
	return exitOK
}

// checkOutFile refuses, before anything is read or planned, a file that
// flag names to write and that writeFileAtomic would refuse once the plan
// is made: an existing path that is not a regular file (a directory, a
// symbolic link, a named pipe), or one in a directory that does not exist.
func checkOutFile(flag, path string) error {
	switch info, err := os.Lstat(path); {
	case err == nil && !info.Mode().IsRegular():
		return usageErr("%s %s is %s, not a regular file: give the path of a file to write, such as plan.json", flag, path, fileKind(info.Mode()))
	case err == nil:
		return nil
	}
	return checkParentDir(flag, path)
}

// checkParentDir refuses path, a file that flag names and that is to be
// created, when the directory it would be created in does not exist.
func checkParentDir(flag, path string) error {
	if info, err := os.Stat(filepath.Dir(path)); err != nil || !info.IsDir() {
		return usageErr("%s %s: the directory %s does not exist: create it, or give a path in one that does", flag, path, filepath.Dir(path))
	}
	return nil
}

func planWriter(format string) (func(*upgrade.Plan, io.Writer) error, error) {
	switch format {
	case "text":
		return (*upgrade.Plan).WriteText, nil
	case "json":
		return (*upgrade.Plan).WriteJSON, nil
	case "mermaid":
		return (*upgrade.Plan).WriteMermaid, nil
	case "dot":
		return (*upgrade.Plan).WriteDOT, nil
	}
	return nil, fmt.Errorf("--format %q: want text, json, mermaid or dot", format)
}

// makePlan loads the inputs and plans the requests. The caller closes the
// env when the error is nil.
func makePlan(ctx context.Context, in *inputFlags) (*env, *upgrade.Plan, error) {
	ctx, cancel := afterStop(ctx, 0) // nothing to finish: an interrupt stops at once
	defer cancel()
	reqs, err := loadRequests(in.requests)
	if err != nil {
		return nil, nil, inputErr(fmt.Errorf("requests: %w", err))
	}
	e, err := in.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, planner := e.current()
	plan, err := planner.PlanAll(ctx, reqs...)
	if err != nil {
		e.Close()
		return nil, nil, &exitError{planExit(err), err}
	}
	return e, plan, nil
}

// loadEnv loads the inputs, for a plan read from a file.
func loadEnv(ctx context.Context, in *inputFlags) (*env, error) {
	ctx, cancel := afterStop(ctx, 0)
	defer cancel()
	return in.load(ctx)
}
