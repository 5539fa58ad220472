package upgrade

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/stackup/stackup/topology"
)

// WriteText writes the plan for people to read, in the manner of
// `terraform plan`: the requests, then each step in order with what
// changes, from which version to which, after which steps and why, then the
// barriers with the steps each waits for, the requirements already met and
// the warnings. The layout may change between
// releases; do not parse it (use the plan's fields).
//
// No string the plan holds can start a line of its own or reach the
// terminal as an escape sequence: an identifier outside the
// safe set of topology.CheckID is printed quoted, Go-style, and a
// character that is not printable in a reason, warning or constraint is
// printed as its Go escape. Mermaid and DOT labels are escaped likewise
// (see WriteMermaid and WriteDOT).
func (p *Plan) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p.writeTextSummary(bw)
	if len(p.Steps) == 0 {
		fmt.Fprintln(bw, "\nNo changes. Every node already meets the requests.")
	} else {
		fmt.Fprintln(bw, "\nSteps:")
	}
	for i, s := range p.Steps {
		writeTextStep(bw, i, s)
	}
	if len(p.Barriers) > 0 {
		fmt.Fprintln(bw, "\nBarriers:")
	}
	for _, b := range p.Barriers {
		fmt.Fprintf(bw, "  %s\n       after %s\n", textID(b.ID), textIDs(b.After))
		if b.Reason != "" {
			fmt.Fprintf(bw, "       why: %s\n", topology.Printable(b.Reason))
		}
	}
	if len(p.Satisfied) > 0 {
		fmt.Fprintln(bw, "\nAlready met:")
	}
	for _, c := range p.Satisfied {
		fmt.Fprintf(bw, "  %s (%s) has %s, meets %s, required by %s\n", textID(c.Node), textID(c.Template), c.Version,
			topology.Printable(c.Demand.Constraint.String()), topology.Printable(c.Demand.Source()))
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(bw, "\nWarnings:")
	}
	for _, warning := range p.Warnings {
		fmt.Fprintf(bw, "  ! %s\n", topology.Printable(warning))
	}
	return bw.Flush()
}

// writeTextSummary writes WriteText's first line, counting the steps of
// each kind and the requirements already met, and the requests.
func (p *Plan) writeTextSummary(bw *bufio.Writer) {
	platform := 0
	for _, s := range p.Steps {
		if s.Kind == Platform {
			platform++
		}
	}
	fmt.Fprintf(bw, "Upgrade plan: %s (%d platform, %d application), %s already met\n",
		count(len(p.Steps), "step"), platform, len(p.Steps)-platform, count(len(p.Satisfied), "requirement"))
	fmt.Fprintln(bw, "\nRequests:")
	for _, r := range p.Requests {
		fmt.Fprintf(bw, "  %s\n", r)
	}
}

// writeTextStep writes step s, the i-th of the plan counting from 0, as
// WriteText shows it: its number and ID, what it changes, after what and why.
func writeTextStep(bw *bufio.Writer, i int, s Step) {
	fmt.Fprintf(bw, "  %d. %s\n", i+1, textID(s.ID))
	switch s.Kind {
	case Platform:
		verb := "upgrade"
		if s.To.Less(s.From) {
			verb = "downgrade"
		}
		fmt.Fprintf(bw, "       %s %s (%s, %s) %s → %s", verb, textID(s.Node), textID(s.Template), textID(s.Type), s.From, s.To)
		if s.Package != nil {
			fmt.Fprintf(bw, " with package %s %s", textID(s.Package.Type), s.Package.Version)
		}
		fmt.Fprintln(bw)
	default:
		to := ""
		if s.NewTemplate != nil {
			to = textID(s.NewTemplate.ID) + " "
		}
		fmt.Fprintf(bw, "       replace %s (%s %s) with %s%s\n", textID(s.Node), textID(s.Template), s.From, to, s.To)
	}
	if len(s.After) > 0 {
		fmt.Fprintf(bw, "       after %s\n", textIDs(s.After))
	}
	fmt.Fprintf(bw, "       why: %s\n", topology.Printable(s.Reason))
}

// textIDs returns the identifiers as textID writes each, joined by ", ".
func textIDs(ids []StepID) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = textID(id)
	}
	return strings.Join(out, ", ")
}

// String returns the text WriteText writes.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.WriteText(&b) // a strings.Builder does not fail
	return b.String()
}

// count returns n and the noun, in the plural unless n is 1: "1 step",
// "2 steps", "0 steps".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// The renderings print what a plan holds, which may come from a plan file
// or a caller's topology and so from an attacker: every string is escaped
// so that it can neither forge a line nor reach a terminal as an escape
// sequence, nor break out of a Mermaid or DOT label.

// textID returns an identifier as it is when it lies in the safe set of
// [topology.CheckID] (as the planner's always do; step IDs may be longer),
// and quoted, Go-style, otherwise, shortened when long (see
// [topology.Quote]): a quoted identifier in a rendering or an error is one
// to distrust, and a plan built by hand may hold megabytes in one.
func textID[S ~string](id S) string {
	if topology.CheckIDLength("", string(id), maxStepIDLength) == nil {
		return string(id)
	}
	return topology.Quote(string(id))
}
