package engine

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"github.com/capstan-deploy/capstan/deploylib/backend"
	"github.com/capstan-deploy/capstan/deploylib/internal/script"
	"github.com/capstan-deploy/capstan/deploylib/shell"
)

// sendingLine matches the log's line for a script of steps sent to a host:
// the script follows it in full, or it names the host that was sent the
// same text.
var sendingLine = regexp.MustCompile(`(?m)^ DEBUG \[run0001\] Sending to (\S+) as one remote command, (\d+) steps \((.*)\), each reported below with its task:(?: the same script as sent to (\S+))?$`)

// stepToken is the segment's token in a script's step markers.
var stepToken = regexp.MustCompile(`capstan-step: '?([A-Za-z0-9-]+)`)

// The log has each script's text in full once per segment: a host sent
// the same text as a host before it logs one line naming that host, and a
// host whose script differs (a hook on some roles only) has its text in
// full. Config.SecretEnv's values are on standard input and in no line.
func TestScriptLoggedOncePerText(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SecretEnv = map[string]Secret{"DEPLOY_TOKEN": NewSecret("logged-once-secret")}
	d := isolate(t, cfg)
	AfterIn(d, Updated, d.RemoteSh("app:migrate", "Migrates.", Roles("app"), InRelease, "true migrate"))
	st := Stage{Name: "test"}
	for i, h := range []string{"web1", "web2", "web3", "db1"} {
		role := "app"
		if h == "db1" {
			role = "db" // app:migrate is not in its scripts
		}
		st.Servers = append(st.Servers, Server{Host: h, Roles: []string{role}, Primary: i == 0})
	}
	rec := backend.NewRecorder("", gitRules...)
	var out, logBuf bytes.Buffer
	err := d.Start(context.Background(), Deploy, WithStage(st), WithOutput(&out), WithColor(false), WithClock(fixedClock(0)),
		func(o *runOptions) { o.runID = "run0001"; o.logW = &logBuf },
		WithDialer(func(ctx context.Context, s Server) (backend.Conn, error) { return rec.ForHost(s.Host), nil }))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	log := logBuf.String()
	if strings.Contains(log, "logged-once-secret") {
		t.Errorf("the log holds the secret's value:\n%s", log)
	}

	// What each host was sent, script by script, in order.
	sent := map[string][]string{}
	for _, c := range rec.Log() {
		if strings.Contains(c.Command, "capstan-step:") {
			sent[c.Host] = append(sent[c.Host], c.Command)
		}
	}
	token := func(script string) string {
		m := stepToken.FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("no step marker in\n%s", script)
		}
		return m[1]
	}
	// inFull reports whether the log has text as the lines after header.
	inFull := func(header, text string) bool {
		var b strings.Builder
		b.WriteString(header)
		for l := range strings.SplitSeq(text, "\n") {
			b.WriteString("\n DEBUG [run0001] " + l)
		}
		return strings.Contains(log, b.String()+"\n")
	}
	full := map[string]map[string]string{} // token, text: the host logged in full
	texts := map[string]map[string]bool{}  // token: the texts sent
	seen := map[string]int{}               // host: its scripts seen in the log so far
	short := 0
	for _, m := range sendingLine.FindAllStringSubmatchIndex(log, -1) {
		header := log[m[0]:m[1]]
		host := log[m[2]:m[3]]
		if seen[host] >= len(sent[host]) {
			t.Fatalf("%s: more scripts logged than sent:\n%s", host, header)
		}
		text := sent[host][seen[host]]
		seen[host]++
		tok := token(text)
		if texts[tok] == nil {
			texts[tok], full[tok] = map[string]bool{}, map[string]string{}
		}
		texts[tok][text] = true
		if m[8] < 0 {
			if first, ok := full[tok][text]; ok {
				t.Errorf("%s: the script sent to %s logged in full again", host, first)
			}
			full[tok][text] = host
			if !inFull(header, text) {
				t.Errorf("%s: the log does not have the script as sent after\n%s", host, header)
			}
			continue
		}
		short++
		first := log[m[8]:m[9]]
		if full[tok][text] != first {
			t.Errorf("%s: the log names %s, whose script of the segment above is not the same text:\n%s", host, first, header)
		}
	}
	for host, scripts := range sent {
		if seen[host] != len(scripts) {
			t.Errorf("%s: %d scripts logged, %d sent", host, seen[host], len(scripts))
		}
	}
	differs := false
	for tok, ts := range texts {
		if len(full[tok]) != len(ts) {
			t.Errorf("segment %s: %d texts logged in full, %d sent", tok, len(full[tok]), len(ts))
		}
		differs = differs || len(ts) > 1
	}
	if short == 0 || !differs {
		t.Errorf("want segments where hosts shared a script and one where they did not (%d lines naming another host):\n%s", short, log)
	}
}

// Hosts whose scripts have the same text are sent one copy of it: at a
// thousand hosts, one text is kept while the scripts run, not a thousand.
// A script like no other's is built for its host.
func TestSegmentSharesScripts(t *testing.T) {
	seg := &segment{token: "run0001-1"}
	steps := func(release string) []script.Step {
		return []script.Step{
			{Cmd: shell.New("mkdir", "-p", "/srv/shop/releases/"+release)},
			{Cmd: shell.New("test", "-d", "repo").In("/srv/shop"), Gate: script.Gate{NonEmpty: true}},
		}
	}
	first := seg.script(steps("20261125214042"))
	same := seg.script(steps("20261125214042"))
	other := seg.script(steps("20261125214043"))
	if same.String() != first.String() || unsafe.StringData(same.String()) != unsafe.StringData(first.String()) {
		t.Errorf("a script of the same text is another copy")
	}
	if want := script.Steps(seg.token, steps("20261125214043")...).String(); other.String() != want {
		t.Errorf("a script of other steps:\n%s\nwant\n%s", other, want)
	}
	for i := range maxScripts + 2 {
		seg.script(steps(strings.Repeat("1", i+1)))
	}
	if len(seg.scripts) != maxScripts {
		t.Errorf("the segment keeps %d scripts, want at most %d", len(seg.scripts), maxScripts)
	}
}
