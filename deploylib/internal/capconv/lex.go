package capconv

import (
	"fmt"
	"strings"
	"unicode"
)

// The lexer reads the subset of Ruby that Capistrano configuration files
// are written in: identifiers, constants, symbols, numbers, strings (with
// interpolation), %w/%i word arrays, heredocs, operators and comments. It
// knows nothing of Capistrano; the parser gives the tokens their meaning.

type tokKind int

const (
	tEOF     tokKind = iota
	tNL              // end of a statement: a newline or ;
	tIdent           // foo, foo?, foo!, Foo, @foo
	tSymbol          // :foo, :"foo"
	tLabel           // foo: (a hash key or keyword argument)
	tNumber          // 42, 1.5
	tString          // "...", '...', %q(...), heredoc: parts
	tWords           // %w{a b}, %i{a b}: words
	tXString         // `...`: a local command, never translated
	tOp              // punctuation and operators
)

// strPart is a literal piece of a string or an interpolated expression
// ("#{...}"), kept as source to be parsed later.
type strPart struct {
	lit    string
	interp string // the Ruby source inside #{...}
	isExpr bool
	line   int
}

type token struct {
	kind  tokKind
	text  string // identifier, operator, number, symbol name, label name
	parts []strPart
	words []string
	sym   bool // a %i word array: the words are symbols
	line  int
	// spaceBefore: white space precedes the token (tells "foo [1]" from
	// "foo[1]" and "a -1" from "a - 1").
	spaceBefore bool
}

// SyntaxError is a file that cannot be read as Ruby: an unterminated
// string, an unbalanced block. It names the file and line.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

type lexer struct {
	file    string
	src     []rune
	pos     int
	line    int
	toks    []token
	pending []heredoc // heredocs whose bodies start on the next line
}

type heredoc struct {
	tok    int // index of the token to fill
	id     string
	squish bool // <<~: remove common indentation
	indent bool // <<- or <<~: the terminator may be indented
	raw    bool // <<~'EOS': no interpolation
}

func lex(file, src string, firstLine int) ([]token, error) {
	l := &lexer{file: file, src: []rune(src), line: firstLine}
	if err := l.run(); err != nil {
		return nil, err
	}
	return l.toks, nil
}

func (l *lexer) errf(line int, format string, args ...any) error {
	return &SyntaxError{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) peek(off int) rune {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

func (l *lexer) emit(t token) { l.toks = append(l.toks, t) }

func (l *lexer) last() *token {
	if len(l.toks) == 0 {
		return nil
	}
	return &l.toks[len(l.toks)-1]
}

// valueEnded reports whether the previous token ends a value, so that
// what follows is an operator rather than the start of a literal.
func (l *lexer) valueEnded() bool {
	t := l.last()
	if t == nil {
		return false
	}
	switch t.kind {
	case tIdent, tNumber, tString, tWords, tSymbol, tXString:
		return true
	case tOp:
		return t.text == ")" || t.text == "]" || t.text == "}"
	}
	return false
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentChar(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func (l *lexer) run() error {
	space := false
	for l.pos < len(l.src) {
		r := l.src[l.pos]
		switch {
		case r == '\n':
			l.pos++
			if err := l.readHeredocs(); err != nil {
				return err
			}
			l.emit(token{kind: tNL, line: l.line})
			l.line++
			space = true
			continue
		case r == '\\' && l.peek(1) == '\n':
			l.pos += 2
			l.line++
			space = true
			continue
		case r == ' ' || r == '\t' || r == '\r':
			l.pos++
			space = true
			continue
		case r == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		case r == '=' && l.atLineStart() && strings.HasPrefix(string(l.src[l.pos:min(len(l.src), l.pos+6)]), "=begin"):
			start := l.line
			for {
				i := l.pos
				for i < len(l.src) && l.src[i] != '\n' {
					i++
				}
				lineText := string(l.src[l.pos:i])
				l.pos = i
				if strings.HasPrefix(lineText, "=end") {
					break
				}
				if l.pos >= len(l.src) {
					return l.errf(start, "=begin without =end")
				}
				l.pos++
				l.line++
			}
			continue
		}
		start := len(l.toks)
		if err := l.token(space); err != nil {
			return err
		}
		if len(l.toks) > start {
			l.toks[start].spaceBefore = space
		}
		space = false
	}
	if len(l.pending) > 0 {
		return l.errf(l.line, "heredoc <<%s has no body", l.pending[0].id)
	}
	l.emit(token{kind: tNL, line: l.line})
	l.emit(token{kind: tEOF, line: l.line})
	return nil
}

func (l *lexer) atLineStart() bool { return l.pos == 0 || l.src[l.pos-1] == '\n' }

func (l *lexer) token(space bool) error {
	r := l.src[l.pos]
	line := l.line
	switch {
	case r == ';':
		l.pos++
		l.emit(token{kind: tNL, line: line})
	case unicode.IsDigit(r):
		s := l.pos
		for l.pos < len(l.src) && (unicode.IsDigit(l.src[l.pos]) || l.src[l.pos] == '_' || l.src[l.pos] == '.' && unicode.IsDigit(l.peek(1))) {
			l.pos++
		}
		l.emit(token{kind: tNumber, text: strings.ReplaceAll(string(l.src[s:l.pos]), "_", ""), line: line})
	case isIdentStart(r) || r == '@' || r == '$' && isIdentStart(l.peek(1)):
		s := l.pos
		l.pos++
		for l.pos < len(l.src) && (isIdentChar(l.src[l.pos]) || l.src[l.pos] == '@' && l.pos == s+1) {
			l.pos++
		}
		if l.pos < len(l.src) && (l.src[l.pos] == '?' || l.src[l.pos] == '!') && l.peek(1) != '=' {
			l.pos++
		}
		name := string(l.src[s:l.pos])
		// A label (user: "x") but not a :: constant path or a ternary.
		if l.peek(0) == ':' && l.peek(1) != ':' {
			if t := l.last(); t == nil || !(t.kind == tOp && t.text == "?") {
				l.pos++
				l.emit(token{kind: tLabel, text: name, line: line})
				return nil
			}
		}
		l.emit(token{kind: tIdent, text: name, line: line})
	case r == ':' && l.peek(1) == '"':
		l.pos++
		parts, err := l.quoted('"', '"', true)
		if err != nil {
			return err
		}
		l.emit(token{kind: tSymbol, text: literal(parts), line: line})
	case r == ':' && (isIdentStart(l.peek(1))):
		l.pos++
		s := l.pos
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.pos++
		}
		if l.pos < len(l.src) && (l.src[l.pos] == '?' || l.src[l.pos] == '!' || l.src[l.pos] == '=') {
			l.pos++
		}
		l.emit(token{kind: tSymbol, text: string(l.src[s:l.pos]), line: line})
	case r == '"' || r == '\'':
		if l.valueEnded() && !space {
			return l.errf(line, "unexpected quote")
		}
		parts, err := l.quoted(r, r, r == '"')
		if err != nil {
			return err
		}
		// "key": value is a label too.
		if l.peek(0) == ':' && l.peek(1) != ':' && (l.peek(1) == ' ' || l.peek(1) == '\t') {
			l.pos++
			l.emit(token{kind: tLabel, text: literal(parts), line: line})
			return nil
		}
		l.emit(token{kind: tString, parts: parts, line: line})
	case r == '`':
		parts, err := l.quoted('`', '`', true)
		if err != nil {
			return err
		}
		l.emit(token{kind: tXString, parts: parts, line: line})
	case r == '%' && !(l.valueEnded() && (!space || l.peek(1) == ' ')) && strings.ContainsRune("wWiIqQ({[<", l.peek(1)):
		return l.percent()
	case r == '<' && l.peek(1) == '<' && (l.peek(2) == '~' || l.peek(2) == '-' || l.peek(2) == '\'' || l.peek(2) == '"' || isUpper(l.peek(2))) && !(l.valueEnded() && !space):
		return l.heredocStart()
	default:
		for _, op := range []string{"**", "::", "=>", "->", "==", "!=", "=~", "<=", ">=", "&&", "||", "<<", "..", "&.", "+=", "||=", "-="} {
			if strings.HasPrefix(string(l.src[l.pos:min(len(l.src), l.pos+len(op))]), op) {
				l.pos += len(op)
				l.emit(token{kind: tOp, text: op, line: line})
				return nil
			}
		}
		if strings.ContainsRune("()[]{}|,.=+-*/<>!?&:", r) {
			l.pos++
			l.emit(token{kind: tOp, text: string(r), line: line})
			return nil
		}
		return l.errf(line, "unexpected character %q", r)
	}
	return nil
}

func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }

func closer(open rune) rune {
	switch open {
	case '(':
		return ')'
	case '[':
		return ']'
	case '{':
		return '}'
	case '<':
		return '>'
	}
	return open
}

func (l *lexer) percent() error {
	line := l.line
	l.pos++ // %
	kind := 'Q'
	if strings.ContainsRune("wWiIqQ", l.peek(0)) {
		kind = l.peek(0)
		l.pos++
	}
	open := l.peek(0)
	if open == 0 || isIdentChar(open) || open == ' ' {
		return l.errf(line, "unsupported %%-literal")
	}
	switch kind {
	case 'w', 'W', 'i', 'I':
		l.pos++
		cl := closer(open)
		s := l.pos
		for l.pos < len(l.src) && l.src[l.pos] != cl {
			if l.src[l.pos] == '\n' {
				l.line++
			}
			l.pos++
		}
		if l.pos >= len(l.src) {
			return l.errf(line, "unterminated %%%c literal", kind)
		}
		words := strings.Fields(string(l.src[s:l.pos]))
		l.pos++
		l.emit(token{kind: tWords, words: words, sym: kind == 'i' || kind == 'I', line: line})
		return nil
	}
	parts, err := l.quoted(open, closer(open), kind != 'q')
	if err != nil {
		return err
	}
	l.emit(token{kind: tString, parts: parts, line: line})
	return nil
}

// quoted reads a string from its opening delimiter at l.pos; interp says
// whether #{} and backslash escapes are read (double-quoted) or not.
func (l *lexer) quoted(open, cl rune, interp bool) ([]strPart, error) {
	startLine := l.line
	l.pos++
	var parts []strPart
	var b strings.Builder
	depth := 0
	flush := func() {
		if b.Len() > 0 {
			parts = append(parts, strPart{lit: b.String(), line: l.line})
			b.Reset()
		}
	}
	for {
		if l.pos >= len(l.src) {
			return nil, l.errf(startLine, "unterminated string")
		}
		r := l.src[l.pos]
		switch {
		case r == '\\':
			n := l.peek(1)
			l.pos += 2
			if !interp {
				if n == cl || n == '\\' || n == open {
					b.WriteRune(n)
				} else {
					b.WriteRune('\\')
					b.WriteRune(n)
				}
				continue
			}
			switch n {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'e':
				b.WriteByte(0x1b)
			case 's':
				b.WriteByte(' ')
			case '0':
				b.WriteByte(0)
			case '\n':
				l.line++
			case 'u':
				r, err := l.unicodeEscape()
				if err != nil {
					return nil, err
				}
				b.WriteString(r)
			case 'x':
				v := 0
				i := 0
				for ; i < 2 && isHex(l.peek(0)); i++ {
					v = v*16 + hexVal(l.peek(0))
					l.pos++
				}
				if i == 0 {
					return nil, l.errf(l.line, "invalid \\x escape")
				}
				b.WriteByte(byte(v))
			default:
				b.WriteRune(n)
			}
			continue
		case r == '#' && interp && l.peek(1) == '{':
			flush()
			line := l.line
			l.pos += 2
			s := l.pos
			d := 1
			for l.pos < len(l.src) && d > 0 {
				switch l.src[l.pos] {
				case '{':
					d++
				case '}':
					d--
				case '\n':
					l.line++
				}
				l.pos++
			}
			if d > 0 {
				return nil, l.errf(line, "unterminated #{ in string")
			}
			parts = append(parts, strPart{interp: string(l.src[s : l.pos-1]), isExpr: true, line: line})
			continue
		case r == open && open != cl:
			depth++
		case r == cl:
			if depth == 0 {
				l.pos++
				flush()
				return parts, nil
			}
			depth--
		case r == '\n':
			l.line++
		}
		b.WriteRune(r)
		l.pos++
	}
}

func isHex(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

func hexVal(r rune) int {
	switch {
	case r >= 'a':
		return int(r-'a') + 10
	case r >= 'A':
		return int(r-'A') + 10
	}
	return int(r - '0')
}

// unicodeEscape reads the XXXX of \uXXXX or the {X...} of \u{X...}.
func (l *lexer) unicodeEscape() (string, error) {
	var b strings.Builder
	read := func(max int) error {
		v, i := 0, 0
		for ; i < max && isHex(l.peek(0)); i++ {
			v = v*16 + hexVal(l.peek(0))
			l.pos++
		}
		if i == 0 || max == 4 && i != 4 || v > unicode.MaxRune {
			return l.errf(l.line, "invalid \\u escape")
		}
		b.WriteRune(rune(v))
		return nil
	}
	if l.peek(0) != '{' {
		err := read(4)
		return b.String(), err
	}
	l.pos++
	for {
		for l.peek(0) == ' ' {
			l.pos++
		}
		if l.peek(0) == '}' {
			l.pos++
			return b.String(), nil
		}
		if err := read(6); err != nil {
			return "", err
		}
	}
}

func (l *lexer) heredocStart() error {
	line := l.line
	l.pos += 2
	h := heredoc{}
	switch l.peek(0) {
	case '~':
		h.squish, h.indent = true, true
		l.pos++
	case '-':
		h.indent = true
		l.pos++
	}
	q := l.peek(0)
	if q == '\'' || q == '"' {
		h.raw = q == '\''
		l.pos++
		s := l.pos
		for l.pos < len(l.src) && l.src[l.pos] != q && l.src[l.pos] != '\n' {
			l.pos++
		}
		if l.peek(0) != q {
			return l.errf(line, "unterminated heredoc identifier")
		}
		h.id = string(l.src[s:l.pos])
		l.pos++
	} else {
		s := l.pos
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.pos++
		}
		h.id = string(l.src[s:l.pos])
	}
	if h.id == "" {
		return l.errf(line, "heredoc without identifier")
	}
	h.tok = len(l.toks)
	l.emit(token{kind: tString, line: line})
	l.pending = append(l.pending, h)
	return nil
}

// readHeredocs reads the bodies of the heredocs started on the line that
// just ended.
func (l *lexer) readHeredocs() error {
	for _, h := range l.pending {
		startLine := l.line
		var lines []string
		for {
			if l.pos >= len(l.src) {
				return l.errf(startLine, "heredoc <<%s is not terminated", h.id)
			}
			i := l.pos
			for i < len(l.src) && l.src[i] != '\n' {
				i++
			}
			text := string(l.src[l.pos:i])
			l.pos = min(i+1, len(l.src))
			l.line++
			check := text
			if h.indent {
				check = strings.TrimLeft(text, " \t")
			}
			if strings.TrimRight(check, "\r") == h.id {
				break
			}
			lines = append(lines, text)
		}
		if h.squish {
			lines = squish(lines)
		}
		body := strings.Join(lines, "\n")
		if len(lines) > 0 {
			body += "\n"
		}
		var parts []strPart
		if h.raw {
			parts = []strPart{{lit: body, line: startLine + 1}}
		} else {
			sub := &lexer{file: l.file, src: []rune("\x00" + body + "\x00"), line: startLine + 1}
			p, err := sub.quoted('\x00', '\x00', true)
			if err != nil {
				return err
			}
			parts = p
		}
		l.toks[h.tok].parts = parts
	}
	l.pending = nil
	return nil
}

func squish(lines []string) []string {
	common := -1
	for _, s := range lines {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n := len(s) - len(strings.TrimLeft(s, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	out := make([]string, len(lines))
	for i, s := range lines {
		if len(s) >= common && common > 0 {
			out[i] = s[common:]
		} else {
			out[i] = strings.TrimLeft(s, " \t")
		}
	}
	return out
}

// literal is the text of a string without interpolation, or "" and the
// interpolations as #{...}.
func literal(parts []strPart) string {
	var b strings.Builder
	for _, p := range parts {
		if p.isExpr {
			b.WriteString("#{" + p.interp + "}")
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}
