package capconv

import (
	"fmt"
	"strings"
)

// The parser turns tokens into statements: calls with arguments and an
// optional block (set, server, task, on, execute, ...), assignments, and
// if/unless. A statement it cannot read is kept whole as an unknown one,
// with its source lines, for the converter to report; only a file whose
// blocks do not balance is an error.

// expr is a Ruby expression of the subset the converter reads.
type expr interface{ isExpr() }

type (
	strExpr struct { // a string, with interpolations
		parts []strItem
	}
	strItem struct {
		lit  string
		expr expr // non-nil: an interpolated expression
	}
	symExpr   struct{ name string }
	numExpr   struct{ text string }
	boolExpr  struct{ v bool }
	nilExpr   struct{}
	arrayExpr struct{ elems []expr }
	hashExpr  struct{ pairs []pair }
	pair      struct {
		key expr // symExpr for labels
		val expr
	}
	// callExpr is a method call or a bare name (a local variable or a
	// method without arguments): recv.name(args) { block }.
	callExpr struct {
		recv  expr
		name  string
		args  []expr
		block *block
		paren bool
	}
	indexExpr struct{ recv, key expr }
	binExpr   struct {
		op   string
		l, r expr
	}
	notExpr    struct{ x expr }
	lambdaExpr struct{ body []stmt }
	xstrExpr   struct{ src string }  // `...`
	constExpr  struct{ name string } // Foo::Bar
)

func (strExpr) isExpr()    {}
func (symExpr) isExpr()    {}
func (numExpr) isExpr()    {}
func (boolExpr) isExpr()   {}
func (nilExpr) isExpr()    {}
func (arrayExpr) isExpr()  {}
func (hashExpr) isExpr()   {}
func (callExpr) isExpr()   {}
func (indexExpr) isExpr()  {}
func (binExpr) isExpr()    {}
func (notExpr) isExpr()    {}
func (lambdaExpr) isExpr() {}
func (xstrExpr) isExpr()   {}
func (constExpr) isExpr()  {}

type block struct {
	params []string
	body   []stmt
}

// stmt is one statement of a file or block.
type stmt struct {
	line, endLine int
	src           string // the statement's source lines, trimmed
	// One of:
	call *callExpr // a call (set, server, task, on, execute, ...)
	// assignment: name = value
	assign string
	value  expr
	// if/unless (cond negated for unless), with else
	cond     expr
	then     []stmt
	els      []stmt
	isCond   bool
	unknown  string // why the statement could not be read
	other    expr   // any other expression statement
	isReturn bool
	// the statement was written with a postfix modifier (x if y)
	modifier bool
}

type parser struct {
	file  string
	lines []string
	toks  []token
	pos   int
	// inArgs counts the command arguments being read: a do block there
	// belongs to the command, not to a call among its arguments.
	inArgs int
}

// parseFile parses the Ruby source of file.
func parseFile(file, src string) ([]stmt, error) {
	toks, err := lex(file, src, 1)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file, lines: strings.Split(src, "\n"), toks: toks}
	body, err := p.stmts(func(t token) bool { return t.kind == tEOF })
	if err != nil {
		return nil, err
	}
	if p.cur().kind != tEOF {
		t := p.cur()
		return nil, &SyntaxError{File: file, Line: t.line, Msg: fmt.Sprintf("unexpected %q", t.text)}
	}
	return body, nil
}

func (p *parser) cur() token  { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }
func (p *parser) isOp(s string) bool {
	t := p.cur()
	return t.kind == tOp && t.text == s
}
func (p *parser) isKw(s string) bool {
	t := p.cur()
	return t.kind == tIdent && t.text == s
}

func (p *parser) skipNL() {
	for p.cur().kind == tNL {
		p.pos++
	}
}

type parseErr struct {
	line int
	msg  string
}

func (p *parser) fail(format string, args ...any) {
	panic(parseErr{p.cur().line, fmt.Sprintf(format, args...)})
}

func (p *parser) expectOp(s string) {
	if !p.isOp(s) {
		p.fail("expected %q", s)
	}
	p.pos++
}

// stmts reads statements until end says stop (end, else, }, EOF).
func (p *parser) stmts(end func(token) bool) ([]stmt, error) {
	var out []stmt
	for {
		p.skipNL()
		t := p.cur()
		if end(t) || t.kind == tEOF {
			return out, nil
		}
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

// stmt reads one statement; what it cannot read becomes an unknown
// statement spanning to the end of its line or of its balanced block.
func (p *parser) stmt() (s stmt, err error) {
	start := p.pos
	line := p.cur().line
	inArgs := p.inArgs
	func() {
		defer func() {
			if r := recover(); r != nil {
				pe, ok := r.(parseErr)
				if !ok {
					panic(r)
				}
				s = stmt{unknown: pe.msg}
				p.pos = start
				p.inArgs = inArgs
				err = p.skipStmt()
				if err == nil && p.pos == start {
					// A closing token with nothing it closes (} or end).
					t := p.cur()
					err = &SyntaxError{File: p.file, Line: t.line, Msg: "unexpected " + describe(t) + " (more closed than opened)"}
				}
			}
		}()
		s = p.stmt1()
		t := p.cur()
		if t.kind != tNL && t.kind != tEOF && !(t.kind == tIdent && (t.text == "end" || t.text == "else" || t.text == "elsif")) && !(t.kind == tOp && t.text == "}") {
			p.fail("unexpected %s after the statement", describe(t))
		}
	}()
	if err != nil {
		return s, err
	}
	s.line = line
	s.endLine = p.toks[max(start, p.pos-1)].line
	if p.pos > start && p.toks[p.pos-1].kind == tNL {
		s.endLine = p.toks[p.pos-1].line
	}
	s.src = p.source(s.line, s.endLine)
	return s, nil
}

func describe(t token) string {
	switch t.kind {
	case tString:
		return "a string"
	case tNL:
		return "end of line"
	case tEOF:
		return "end of file"
	}
	if t.text != "" {
		return fmt.Sprintf("%q", t.text)
	}
	return "a token"
}

func (p *parser) source(from, to int) string {
	if from < 1 {
		from = 1
	}
	if to > len(p.lines) {
		to = len(p.lines)
	}
	var b []string
	for i := from; i <= to; i++ {
		b = append(b, strings.TrimRight(p.lines[i-1], " \t\r"))
	}
	return strings.Join(b, "\n")
}

// opensBlock reports whether tok at index i opens a block closed by end.
func (p *parser) opensBlock(i int) bool {
	t := p.toks[i]
	if t.kind != tIdent {
		return false
	}
	switch t.text {
	case "do", "def", "class", "module", "begin", "case", "while", "until", "for":
		return true
	case "if", "unless":
		if i == 0 {
			return true
		}
		prev := p.toks[i-1]
		return prev.kind == tNL || prev.kind == tOp && strings.Contains("=( ||&&", prev.text)
	}
	return false
}

// skipStmt moves past the statement at p.pos: to the end of its line,
// past any blocks it opens.
func (p *parser) skipStmt() error {
	depth := 0
	startLine := p.cur().line
	for {
		t := p.cur()
		switch {
		case t.kind == tEOF:
			if depth > 0 {
				return &SyntaxError{File: p.file, Line: startLine, Msg: "block not closed (missing end or })"}
			}
			return nil
		case t.kind == tNL && depth == 0:
			return nil
		case p.opensBlock(p.pos) || t.kind == tOp && (t.text == "{" || t.text == "(" || t.text == "["):
			depth++
		case t.kind == tIdent && t.text == "end" || t.kind == tOp && (t.text == "}" || t.text == ")" || t.text == "]"):
			if depth == 0 {
				return nil // the enclosing block's end
			}
			depth--
		}
		p.pos++
	}
}

func (p *parser) stmt1() stmt {
	t := p.cur()
	if t.kind == tIdent && (t.text == "if" || t.text == "unless") {
		return p.ifStmt()
	}
	if t.kind == tIdent && t.text == "return" {
		p.pos++
		s := stmt{isReturn: true}
		if p.cur().kind != tNL {
			s.other = p.expr()
		}
		return p.modifier(s)
	}
	// name = value
	if t.kind == tIdent && p.toks[p.pos+1].kind == tOp && p.toks[p.pos+1].text == "=" {
		p.pos += 2
		return p.modifier(stmt{assign: t.text, value: p.expr()})
	}
	e := p.commandOrExpr()
	s := stmt{}
	if c, ok := e.(*callExpr); ok {
		s.call = c
	} else {
		s.other = e
	}
	return p.modifier(s)
}

// modifier wraps s in x if cond / x unless cond.
func (p *parser) modifier(s stmt) stmt {
	if p.isKw("if") || p.isKw("unless") {
		neg := p.next().text == "unless"
		c := p.expr()
		if neg {
			c = &notExpr{c}
		}
		return stmt{isCond: true, cond: c, then: []stmt{s}, modifier: true}
	}
	return s
}

func (p *parser) ifStmt() stmt {
	neg := p.next().text == "unless"
	c := p.expr()
	if neg {
		c = &notExpr{c}
	}
	if p.isKw("then") {
		p.pos++
	}
	s := stmt{isCond: true, cond: c}
	s.then = p.mustStmts(func(t token) bool {
		return t.kind == tIdent && (t.text == "end" || t.text == "else" || t.text == "elsif")
	})
	switch {
	case p.isKw("elsif"):
		p.toks[p.pos].text = "if" // read the rest as a nested if, sharing the end
		inner := p.ifStmt()
		inner.line = p.toks[p.pos-1].line
		s.els = []stmt{inner}
		return s
	case p.isKw("else"):
		p.pos++
		s.els = p.mustStmts(func(t token) bool { return t.kind == tIdent && t.text == "end" })
	}
	if !p.isKw("end") {
		p.fail("expected end")
	}
	p.pos++
	return s
}

func (p *parser) mustStmts(end func(token) bool) []stmt {
	out, err := p.stmts(end)
	if err != nil {
		se := err.(*SyntaxError)
		panic(parseErr{se.Line, se.Msg})
	}
	return out
}

// startsArg reports whether the current token can start an argument of
// a command call without parentheses (set :a, 1).
func (p *parser) startsArg() bool {
	t := p.cur()
	switch t.kind {
	case tString, tSymbol, tNumber, tWords, tLabel, tXString:
		return true
	case tIdent:
		switch t.text {
		case "do", "if", "unless", "end", "and", "or", "then", "else", "elsif", "rescue":
			return false
		}
		return true
	case tOp:
		switch t.text {
		case "[", "->", "!":
			return t.spaceBefore
		case "::":
			return false
		case "(":
			return t.spaceBefore
		case "-", "*", "&":
			return t.spaceBefore && !p.toks[p.pos+1].spaceBefore
		case "{":
			return false // a block, not a hash, after a bare command name
		}
	}
	return false
}

// commandOrExpr reads a call that may have arguments without parentheses
// (only at the start of a statement), else an expression.
func (p *parser) commandOrExpr() expr {
	t := p.cur()
	if t.kind == tIdent && !isKeyword(t.text) && !isConst(t.text) {
		nt := p.toks[p.pos+1]
		if nt.kind != tOp || nt.text != "(" || nt.spaceBefore {
			p.pos++
			c := &callExpr{name: t.text}
			if p.startsArg() {
				p.inArgs++
				c.args = p.args(func() bool { return p.cur().kind == tNL || p.isKw("do") || p.isKw("if") || p.isKw("unless") })
				p.inArgs--
			}
			p.maybeBlock(c)
			return p.postfix(c)
		}
	}
	return p.expr()
}

func isKeyword(s string) bool {
	switch s {
	case "if", "unless", "end", "do", "else", "elsif", "then", "and", "or", "not", "return", "def", "class", "module", "begin", "rescue", "ensure", "case", "when", "while", "until", "for", "yield", "self", "true", "false", "nil", "lambda", "proc":
		return true
	}
	return false
}

func isConst(s string) bool { return s != "" && isUpper(rune(s[0])) }

// args reads comma-separated arguments, collecting label: value and
// key => value pairs into one trailing hash.
func (p *parser) args(stop func() bool) []expr {
	var out []expr
	var kw *hashExpr
	for {
		if stop() {
			break
		}
		t := p.cur()
		switch {
		case t.kind == tLabel:
			p.pos++
			p.skipNL()
			if kw == nil {
				kw = &hashExpr{}
			}
			kw.pairs = append(kw.pairs, pair{&symExpr{t.text}, p.expr()})
		case t.kind == tOp && t.text == "&":
			p.fail("block arguments (&) are not supported")
		case t.kind == tOp && t.text == "*":
			p.fail("splat arguments (*) are not supported")
		default:
			e := p.expr()
			if p.isOp("=>") {
				p.pos++
				p.skipNL()
				if kw == nil {
					kw = &hashExpr{}
				}
				kw.pairs = append(kw.pairs, pair{e, p.expr()})
			} else {
				out = append(out, e)
			}
		}
		if !p.isOp(",") {
			break
		}
		p.pos++
		p.skipNL()
	}
	if kw != nil {
		out = append(out, kw)
	}
	return out
}

// maybeBlock reads a do ... end or { ... } block after a call.
func (p *parser) maybeBlock(c *callExpr) {
	var endTok func(token) bool
	switch {
	case p.isKw("do"):
		endTok = func(t token) bool { return t.kind == tIdent && t.text == "end" }
	case p.isOp("{"):
		endTok = func(t token) bool { return t.kind == tOp && t.text == "}" }
	default:
		return
	}
	p.pos++
	b := &block{}
	if p.isOp("|") {
		p.pos++
		for !p.isOp("|") {
			t := p.next()
			if t.kind == tIdent {
				b.params = append(b.params, t.text)
			} else if !(t.kind == tOp && t.text == ",") {
				p.fail("unsupported block parameters")
			}
		}
		p.pos++
	}
	saved := p.inArgs
	p.inArgs = 0
	b.body = p.mustStmts(endTok)
	p.inArgs = saved
	if !endTok(p.cur()) {
		p.fail("block not closed")
	}
	p.pos++
	c.block = b
}

// Expressions, by precedence: or/and, ||/&&, not, ==/!=, +/-, unary, postfix.
func (p *parser) expr() expr {
	l := p.andOr()
	for p.isKw("or") || p.isKw("and") {
		op := "||"
		if p.next().text == "and" {
			op = "&&"
		}
		p.skipNL()
		l = &binExpr{op, l, p.andOr()}
	}
	if p.isOp("?") {
		p.fail("the ternary operator is not supported")
	}
	return l
}

func (p *parser) andOr() expr {
	l := p.equality()
	for p.isOp("||") || p.isOp("&&") {
		op := p.next().text
		p.skipNL()
		l = &binExpr{op, l, p.equality()}
	}
	return l
}

func (p *parser) equality() expr {
	l := p.additive()
	for p.isOp("==") || p.isOp("!=") {
		op := p.next().text
		l = &binExpr{op, l, p.additive()}
	}
	if p.isOp("=~") || p.isOp("<") || p.isOp(">") || p.isOp("<=") || p.isOp(">=") {
		p.fail("operator %s is not supported", p.cur().text)
	}
	return l
}

func (p *parser) additive() expr {
	l := p.unary()
	for p.isOp("+") || p.isOp("-") && !(p.cur().spaceBefore && !p.toks[p.pos+1].spaceBefore) {
		op := p.next().text
		p.skipNL()
		l = &binExpr{op, l, p.unary()}
	}
	if p.isOp("*") || p.isOp("/") || p.isOp("%") || p.isOp("**") {
		p.fail("operator %s is not supported", p.cur().text)
	}
	return l
}

func (p *parser) unary() expr {
	if p.isOp("!") || p.isKw("not") {
		p.pos++
		return &notExpr{p.unary()}
	}
	if p.isOp("-") && p.toks[p.pos+1].kind == tNumber {
		p.pos++
		return &numExpr{"-" + p.next().text}
	}
	return p.postfix(p.primary())
}

func (p *parser) postfix(e expr) expr {
	for {
		switch {
		case p.isOp(".") || p.isOp("&."):
			p.pos++
			p.skipNL()
			t := p.next()
			if t.kind != tIdent && t.kind != tLabel {
				p.fail("expected a method name after .")
			}
			if t.kind == tLabel {
				p.fail("unsupported method call syntax")
			}
			c := &callExpr{recv: e, name: t.text}
			if p.isOp("(") && !p.cur().spaceBefore {
				p.pos++
				p.skipNL()
				c.args = p.args(func() bool { p.skipNL(); return p.isOp(")") })
				p.skipNL()
				p.expectOp(")")
				c.paren = true
			}
			p.maybeBlockBrace(c)
			e = c
		case p.isOp("[") && !p.cur().spaceBefore:
			p.pos++
			k := p.expr()
			p.expectOp("]")
			e = &indexExpr{e, k}
		case p.isOp("::"):
			p.pos++
			t := p.next()
			if c, ok := e.(*constExpr); ok && t.kind == tIdent {
				e = &constExpr{c.name + "::" + t.text}
				continue
			}
			p.fail("unsupported ::")
		default:
			return e
		}
	}
}

// maybeBlockBrace reads a block after a method call inside an expression
// (roles(:app).each do |h| ... end is a statement the converter
// reports as unknown, but it must still parse).
func (p *parser) maybeBlockBrace(c *callExpr) {
	if p.isOp("{") || p.isKw("do") && p.inArgs == 0 {
		p.maybeBlock(c)
	}
}

func (p *parser) primary() expr {
	t := p.cur()
	switch t.kind {
	case tString:
		p.pos++
		s := p.strExpr(t)
		// Adjacent literals concatenate: "a" "b".
		for p.cur().kind == tString {
			s.parts = append(s.parts, p.strExpr(p.next()).parts...)
		}
		return s
	case tXString:
		p.pos++
		return &xstrExpr{literal(t.parts)}
	case tSymbol:
		p.pos++
		return &symExpr{t.text}
	case tNumber:
		p.pos++
		return &numExpr{t.text}
	case tWords:
		p.pos++
		a := &arrayExpr{}
		for _, w := range t.words {
			if t.sym {
				a.elems = append(a.elems, &symExpr{w})
			} else {
				a.elems = append(a.elems, &strExpr{parts: []strItem{{lit: w}}})
			}
		}
		return a
	case tLabel:
		p.fail("unexpected %s:", t.text)
	case tOp:
		switch t.text {
		case "(":
			p.pos++
			p.skipNL()
			e := p.expr()
			p.skipNL()
			p.expectOp(")")
			return e
		case "[":
			p.pos++
			p.skipNL()
			a := &arrayExpr{}
			a.elems = p.args(func() bool { p.skipNL(); return p.isOp("]") })
			p.skipNL()
			p.expectOp("]")
			for _, e := range a.elems {
				if _, ok := e.(*hashExpr); ok {
					p.fail("a hash inside an array literal is not supported")
				}
			}
			return a
		case "{":
			p.pos++
			p.skipNL()
			h := &hashExpr{}
			args := p.args(func() bool { p.skipNL(); return p.isOp("}") })
			p.skipNL()
			p.expectOp("}")
			for _, a := range args {
				kh, ok := a.(*hashExpr)
				if !ok {
					p.fail("a hash literal needs key: value pairs")
				}
				h.pairs = append(h.pairs, kh.pairs...)
			}
			return h
		case "->":
			p.pos++
			if p.isOp("(") {
				p.fail("lambda parameters are not supported")
			}
			c := &callExpr{}
			p.maybeBlock(c)
			if c.block == nil {
				p.fail("expected a lambda body")
			}
			return &lambdaExpr{c.block.body}
		}
	case tIdent:
		p.pos++
		switch t.text {
		case "true":
			return &boolExpr{true}
		case "false":
			return &boolExpr{false}
		case "nil":
			return &nilExpr{}
		case "lambda", "proc":
			c := &callExpr{}
			p.maybeBlock(c)
			if c.block == nil {
				p.fail("expected a %s body", t.text)
			}
			return &lambdaExpr{c.block.body}
		}
		if isKeyword(t.text) {
			p.fail("unsupported %s", t.text)
		}
		if isConst(t.text) {
			return &constExpr{t.text}
		}
		c := &callExpr{name: t.text}
		if p.isOp("(") && !p.cur().spaceBefore {
			p.pos++
			p.skipNL()
			c.args = p.args(func() bool { p.skipNL(); return p.isOp(")") })
			p.skipNL()
			p.expectOp(")")
			c.paren = true
		}
		p.maybeBlockBrace(c)
		return c
	}
	p.fail("unexpected %s", describe(t))
	return nil
}

func (p *parser) strExpr(t token) *strExpr {
	s := &strExpr{}
	for _, part := range t.parts {
		if !part.isExpr {
			s.parts = append(s.parts, strItem{lit: part.lit})
			continue
		}
		toks, err := lex(p.file, part.interp, part.line)
		if err != nil {
			se := err.(*SyntaxError)
			panic(parseErr{se.Line, se.Msg})
		}
		sub := &parser{file: p.file, lines: p.lines, toks: toks}
		sub.skipNL()
		e := sub.expr()
		sub.skipNL()
		if sub.cur().kind != tEOF {
			sub.fail("unsupported interpolation #{%s}", part.interp)
		}
		s.parts = append(s.parts, strItem{expr: e})
	}
	return s
}
