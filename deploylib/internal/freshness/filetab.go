package freshness

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxFiletab bounds the file table read from an executable: a magefile
// binary's table is tens of kilobytes; a larger one is not a Go table.
const maxFiletab = 16 << 20

// sourceFiles returns the names of the source files compiled into the Go
// executable at path, as its linker recorded them in the file table of the
// pclntab (the table runtime.FuncForPC reads positions from): absolute
// paths unless the build used -trimpath. Reading it costs one open and two
// small reads, not a parse of the symbol table.
//
// The table lists every file that holds a function (a package-level
// initialiser counts); a file with only types, constants or statically
// initialised variables is not listed, which is why the check compares
// whole package directories.
func sourceFiles(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tab, err := pclntab(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	files, err := filetab(tab)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return files, nil
}

// pclntab finds the pclntab of the executable f (ELF, Mach-O or PE).
func pclntab(f *os.File) (io.ReaderAt, error) {
	if ef, err := elf.NewFile(f); err == nil {
		if s := ef.Section(".gopclntab"); s != nil {
			return s, nil
		}
		return nil, errors.New("no .gopclntab section")
	}
	if mf, err := macho.NewFile(f); err == nil {
		if s := mf.Section("__gopclntab"); s != nil {
			return s, nil
		}
		return nil, errors.New("no __gopclntab section")
	}
	if pf, err := pe.NewFile(f); err == nil {
		// PE has no section of its own for it: the table lies inside
		// .rdata between the symbols runtime.pclntab and
		// runtime.epclntab (absent from a binary linked with -s).
		var start, end *pe.Symbol
		for _, s := range pf.Symbols {
			switch s.Name {
			case "runtime.pclntab":
				start = s
			case "runtime.epclntab":
				end = s
			}
		}
		if start == nil || end == nil || start.SectionNumber != end.SectionNumber || start.SectionNumber < 1 ||
			int(start.SectionNumber) > len(pf.Sections) || end.Value < start.Value {
			return nil, errors.New("no runtime.pclntab symbol")
		}
		sect := pf.Sections[start.SectionNumber-1]
		return io.NewSectionReader(sect, int64(start.Value), int64(end.Value-start.Value)), nil
	}
	return nil, errors.New("not an ELF, Mach-O or PE executable")
}

// filetab reads the file names out of a pclntab of Go 1.18 or later
// (runtime.pcHeader): a magic number, two pad bytes, the instruction size
// quantum and the pointer size, then eight pointer-sized words, of which
// the sixth and seventh are the offsets of the file table and of the table
// after it. The file table is a run of NUL-terminated names.
func filetab(tab io.ReaderAt) ([]string, error) {
	var hdr [8 + 8*8]byte
	if _, err := tab.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("reading the pclntab header: %w", err)
	}
	var order binary.ByteOrder
	switch {
	case isGo118Magic(binary.LittleEndian.Uint32(hdr[:])):
		order = binary.LittleEndian
	case isGo118Magic(binary.BigEndian.Uint32(hdr[:])):
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("pclntab magic %#x is not Go 1.18's or later", binary.LittleEndian.Uint32(hdr[:]))
	}
	ptr := int(hdr[7])
	if ptr != 4 && ptr != 8 {
		return nil, fmt.Errorf("pclntab pointer size %d", ptr)
	}
	word := func(i int) uint64 {
		b := hdr[8+i*ptr:]
		if ptr == 4 {
			return uint64(order.Uint32(b))
		}
		return order.Uint64(b)
	}
	start, end := word(5), word(6)
	if end < start || end-start > maxFiletab {
		return nil, fmt.Errorf("pclntab file table at [%d, %d) is implausible", start, end)
	}
	buf := make([]byte, end-start)
	if _, err := tab.ReadAt(buf, int64(start)); err != nil {
		return nil, fmt.Errorf("reading the pclntab file table: %w", err)
	}
	var names []string
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, 0)
		if i < 0 {
			i = len(buf)
		}
		if i > 0 {
			names = append(names, string(buf[:i]))
		}
		buf = buf[min(i+1, len(buf)):]
	}
	return names, nil
}

// isGo118Magic reports whether m is the pclntab magic of Go 1.18–1.19
// (0xfffffff0) or 1.20 and later (0xfffffff1), which share the header
// layout filetab reads.
func isGo118Magic(m uint32) bool { return m == 0xfffffff0 || m == 0xfffffff1 }
