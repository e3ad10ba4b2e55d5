package topology

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest topology file Load and Parse accept: almost
// three times a generated lab of 10,000 nodes (2.9 MB), and small enough
// that the worst file under it is rejected within 2 seconds.
const MaxFileSize = 8 << 20

// Load reads and parses the topology file at path. Problems in the file
// come back as an ErrorList; a file that cannot be read, as the error of
// the read.
func Load(path string) (*Lab, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses and validates a topology file. filename is used in
// positions and messages only. On failure the error is an ErrorList of
// every problem found (up to 50), sorted by position.
func Parse(filename string, data []byte) (*Lab, error) {
	return parse(filename, data, nil)
}

func parse(filename string, data []byte, prior Assignments) (*Lab, error) {
	if len(data) > MaxFileSize {
		return nil, tooLarge(filename, int64(len(data)))
	}
	p := newParser(filename)
	p.prior = prior
	if root := p.readYAML(data); root != nil {
		p.decodeLab(root)
		p.build()
	}
	if err := p.result(); err != nil {
		return nil, err
	}
	p.lab.Source = data
	return p.lab, nil
}

func tooLarge(file string, size int64) error {
	return ErrorList{{Pos: Pos{File: file}, Msg: fmt.Sprintf(
		"the file is %.1f MiB (%d bytes); topology files are limited to %d MiB (%d bytes)",
		float64(size)/(1<<20), size, MaxFileSize>>20, MaxFileSize)}}
}

// parser holds the state of one Parse: the YAML side, the declarations
// decoded from it, and the errors.
type parser struct {
	errorSink
	file string

	src      []byte                 // the file, without a byte order mark
	input    []byte                 // what was parsed: src, maybe after a prelude
	lines    []int                  // where each line of src starts; built on demand
	prelude  int                    // lines parsed before src (see decodeWithPrelude)
	readTo   int                    // how much of input the parser read
	cyclic   map[*yaml.Node]bool    // aliases inside the value of their anchor
	merged   map[*yaml.Node][]entry // mappings merged with <<, read once
	nodes    int                    // YAML nodes in the file
	visited  int                    // YAML nodes decoded, aliases expanded
	aborted  bool
	overlong bool // a value longer than MaxValue

	lab      *Lab
	nameSet  bool
	bridges  []*bridgeDecl
	overlays []*overlayDecl
	machines []*machineDecl
	hostsPos Pos
	nodeList []*nodeDecl
	host     []*ifaceDecl
	segs     []Segment
	pool     prefixList
	// routingPos is where routing: was written.
	routingPos Pos
	// prior are addresses assigned before (see ParseWith), by member.
	prior Assignments
}

func newParser(file string) *parser {
	return &parser{
		file:   file,
		cyclic: map[*yaml.Node]bool{},
		merged: map[*yaml.Node][]entry{},
		lab:    &Lab{File: file},
	}
}

func (p *parser) errorf(pos Pos, format string, args ...any) { p.add(pos, format, args...) }

// build turns the declarations into the model and checks it.
func (p *parser) build() {
	if p.aborted {
		return
	}
	p.defaultName()
	if len(p.bridges) == 0 && len(p.nodeList) == 0 && len(p.errs) == 0 {
		p.errorf(p.pos(1, 1), "the lab declares no nodes and no bridges: add nodes:")
	}
	p.assemble()
	p.assembleMachines()
	p.checkKindKeys()
	p.resolveLinks()
	p.checkMultiHost()
	p.checkKinds()
	p.assign()
	p.lab.Pool = p.pool.pfxs
	p.validate()
	if len(p.errs) == 0 {
		p.autoRoutes()
	}
}

// defaultName names the lab after its file when the file does not.
func (p *parser) defaultName() {
	if p.nameSet {
		return
	}
	base := filepath.Base(p.file)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	if err := ValidLabName(base); err != nil {
		p.errorf(Pos{File: p.file}, "the lab has no name: and its file name %q does not make one (%v); add name: to the file", base, err)
		return
	}
	p.lab.Name = base
}
