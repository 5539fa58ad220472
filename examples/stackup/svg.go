package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/stackup/stackup/upgrade"
)

// The bounds of a plan's picture: above maxGraphNodes steps and barriers,
// it shows the first levels that fit, and says so; a label longer than
// maxLabel characters is cut (the full ID is in the box's tooltip); at
// most maxGraphEdges arrows are drawn.
const (
	maxGraphNodes = 500
	maxGraphEdges = 5000
	maxLabel      = 34
)

// The geometry of a plan's picture, in pixels.
const (
	boxW, boxH   = 230, 40
	colGap       = 60
	rowGap       = 14
	graphMargin  = 20
	graphHeader  = 30
	barrierR     = 6
	barrierSlotH = 24
)

// stepColours are the fill and stroke of a box per step kind.
var stepColours = map[upgrade.StepKind][2]string{
	upgrade.Platform:    {"#dbeafe", "#2563eb"},
	upgrade.Application: {"#dcfce7", "#16a34a"},
}

// graphNode is a step or a barrier in the picture.
type graphNode struct {
	id      upgrade.StepID
	step    *upgrade.Step // nil for a barrier
	barrier *upgrade.Barrier
	depth   int
	x, y    int // top left of the box, or centre of the dot
}

func (n *graphNode) after() []upgrade.StepID {
	if n.step != nil {
		return n.step.After
	}
	return n.barrier.After
}

// writePlanSVG draws plan as an SVG picture: a column per depth (the
// longest chain of prerequisites before a step), a box per step coloured
// by kind, a dot per barrier, an arrow per prerequisite. Every text is
// escaped for XML. Above maxGraphNodes it draws the first levels only and
// says how many steps it leaves out.
func writePlanSVG(w io.Writer, plan *upgrade.Plan) error {
	nodes := map[upgrade.StepID]*graphNode{}
	var order []*graphNode // the plan's order: steps, then barriers
	for i := range plan.Steps {
		n := &graphNode{id: plan.Steps[i].ID, step: &plan.Steps[i]}
		nodes[n.id], order = n, append(order, n)
	}
	for i := range plan.Barriers {
		n := &graphNode{id: plan.Barriers[i].ID, barrier: &plan.Barriers[i]}
		if _, dup := nodes[n.id]; dup {
			continue
		}
		nodes[n.id], order = n, append(order, n)
	}
	// Depths, iteratively (a long chain must not exhaust the stack), with
	// a cycle, which a checked plan never has, cut where it closes.
	const unseen, visiting, done = 0, 1, 2
	mark := map[upgrade.StepID]int{}
	for _, root := range order {
		if mark[root.id] == done {
			continue
		}
		type frame struct {
			n *graphNode
			i int
		}
		stack := []frame{{root, 0}}
		mark[root.id] = visiting
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			after := top.n.after()
			if top.i < len(after) {
				p := nodes[after[top.i]]
				top.i++
				if p != nil && mark[p.id] == unseen {
					mark[p.id] = visiting
					stack = append(stack, frame{p, 0})
				}
				continue
			}
			for _, a := range after {
				if p := nodes[a]; p != nil && mark[p.id] == done {
					top.n.depth = max(top.n.depth, p.depth+1)
				}
			}
			mark[top.n.id] = done
			stack = stack[:len(stack)-1]
		}
	}

	// The columns, with the first levels that fit in the bound.
	var columns [][]*graphNode
	for _, n := range order {
		for len(columns) <= n.depth {
			columns = append(columns, nil)
		}
		columns[n.depth] = append(columns[n.depth], n)
	}
	shown, levels := 0, 0
	for _, col := range columns {
		if shown+len(col) > maxGraphNodes {
			break
		}
		shown += len(col)
		levels++
	}
	partial := levels < len(columns)
	if partial && levels == 0 { // a first level larger than the bound: its first boxes
		columns[0], levels, shown = columns[0][:maxGraphNodes], 1, maxGraphNodes
	}
	columns = columns[:levels]

	// Positions.
	drawn := map[upgrade.StepID]*graphNode{}
	width, height := 2*graphMargin, 0
	for c, col := range columns {
		x := graphMargin + c*(boxW+colGap)
		y := graphMargin + graphHeader
		for _, n := range col {
			drawn[n.id] = n
			if n.step != nil {
				n.x, n.y = x, y
				y += boxH + rowGap
			} else {
				n.x, n.y = x+boxW/2, y+barrierSlotH/2
				y += barrierSlotH + rowGap
			}
		}
		width = x + boxW + graphMargin
		height = max(height, y+graphMargin)
	}
	height = max(height, graphMargin+graphHeader+boxH+graphMargin)

	steps, barriers := len(plan.Steps), len(order)-len(plan.Steps)
	title := fmt.Sprintf("%s, %s, %s", count(steps, "step"), count(barriers, "barrier"), count(len(columns), "level"))
	if partial {
		drawnSteps := 0
		for _, n := range drawn {
			if n.step != nil {
				drawnSteps++
			}
		}
		title = fmt.Sprintf("%s, %s: showing the first %s (%d steps); %d more steps are not drawn",
			count(steps, "step"), count(barriers, "barrier"), count(levels, "level"), drawnSteps, steps-drawnSteps)
	}
	width = max(width, 9*utf8.RuneCountInString(title)+2*graphMargin)

	var b svgWriter
	b.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	b.printf(`<title>%s</title>`+"\n", xmlText("plan "+plan.ID))
	b.printf(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker></defs>` + "\n")
	b.printf(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	b.printf(`<text x="%d" y="%d" fill="#475569" font-size="13">%s</text>`+"\n", graphMargin, graphMargin+12, xmlText(title))

	// Arrows first, under the boxes.
	edges := 0
	b.printf(`<g fill="none" stroke="#94a3b8" stroke-width="1.2">` + "\n")
	for _, col := range columns {
		for _, n := range col {
			for _, a := range n.after() {
				p := drawn[a]
				if p == nil || edges >= maxGraphEdges {
					continue
				}
				edges++
				x1, y1 := p.x, p.y
				if p.step != nil {
					x1, y1 = p.x+boxW, p.y+boxH/2
				} else {
					x1 += barrierR
				}
				x2, y2 := n.x, n.y
				if n.step != nil {
					y2 = n.y + boxH/2
				} else {
					x2 -= barrierR
				}
				mid := (x1 + x2) / 2
				b.printf(`<path d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"/>`+"\n", x1, y1, mid, y1, mid, y2, x2, y2)
			}
		}
	}
	b.printf("</g>\n")

	for _, col := range columns {
		for _, n := range col {
			if n.step == nil {
				tip := "barrier " + string(n.id)
				if n.barrier.Reason != "" {
					tip += ": " + n.barrier.Reason
				}
				b.printf(`<g class="barrier"><title>%s</title><circle cx="%d" cy="%d" r="%d" fill="#475569"/></g>`+"\n", xmlText(tip), n.x, n.y, barrierR)
				continue
			}
			st := n.step
			colours, ok := stepColours[st.Kind]
			if !ok {
				colours = [2]string{"#f1f5f9", "#64748b"}
			}
			tip := fmt.Sprintf("%s (%s)\n%s: %s → %s", st.ID, st.Kind, st.Node, st.From, st.To)
			if st.Reason != "" {
				tip += "\n" + st.Reason
			}
			b.printf(`<g class="step %s"><title>%s</title>`, xmlText(st.Kind.String()), xmlText(tip))
			b.printf(`<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="%s"/>`, n.x, n.y, boxW, boxH, colours[0], colours[1])
			b.printf(`<text x="%d" y="%d" fill="#0f172a" font-weight="600">%s</text>`, n.x+10, n.y+16, xmlText(cut(string(st.ID))))
			b.printf(`<text x="%d" y="%d" fill="#475569">%s</text></g>`+"\n", n.x+10, n.y+31,
				xmlText(cut(fmt.Sprintf("%s → %s", st.From, st.To))))
		}
	}
	b.printf("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// svgWriter is a buffer for an SVG document.
type svgWriter struct{ bytes.Buffer }

func (b *svgWriter) printf(format string, args ...any) { fmt.Fprintf(b, format, args...) }

// xmlText escapes s for XML text and attribute values: <, >, &, both
// quotes, and line breaks; characters XML cannot hold become U+FFFD.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a strings.Builder never fail
	return b.String()
}

// cut shortens a label to maxLabel characters.
func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}
