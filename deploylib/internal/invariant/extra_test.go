//go:build unix

package invariant

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-deploy/capstan/deploylib"
	"github.com/capstan-deploy/capstan/deploylib/internal/remote"
)

// The operations of genExtra: what a server may really hold (a live lock
// of another machine, hostile lock details, a release named in the far
// future, a file cleanup cannot remove) and output that must be redacted.
// Each plays its whole story in one operation and leaves the hosts as the
// next one may find them; what must hold between its runs is checked on
// the spot and reported in result.viol.

// doExtra runs one operation of genExtra.
func (w *world) doExtra(op Op, at time.Time, before []hostView) result {
	switch op.Kind {
	case OpForeignUnlock:
		return w.foreignUnlock(op, at)
	case OpHostileLock:
		return w.hostileLock(op, at, before)
	case OpSecretLine:
		return w.secretLine(op, at)
	case OpFarFuture:
		return w.farFuture(op, at, before)
	case OpStuckRemoval:
		return w.stuckRemoval(op, at)
	}
	w.t.Fatalf("unknown op %v", op)
	return result{}
}

// foreignUnlock starts a deploy in a child that runs in a PID namespace of
// its own (and, for the "machine" variant, with another machine id, boot
// id and home: another machine with this hostname), its pid one this
// machine does not have. Once it holds the lock (its hook after
// deploy:lock reports and waits, so its heartbeat is fresh), deploy:unlock
// without FORCE must refuse, and so must a second deploy; then the holder
// goes on and must succeed.
func (w *world) foreignUnlock(op Op, at time.Time) result {
	p := w.newPausePoint()
	defer p.close()
	spec := w.childSpec("deploy", at)
	spec.HoldDir = p.dir
	c := w.spawnIn(spec, w.namespaceWrapper(op.Variant))
	res := result{release: remote.ReleaseNameAt(at), decisive: 3}
	select {
	case <-p.events:
	case <-c.done:
		// The holder ended before taking the lock (a refused
		// configuration): the operation is that deploy alone.
		res.runs = []runResult{c.wait(w)}
		res.decisive = 0
		return res
	}
	res.runs = append(res.runs, w.run(deploylib.Unlock, at))
	res.runs = append(res.runs, w.run(deploylib.Deploy, at))
	p.goOn.Write([]byte("\n"))
	holder := c.wait(w)
	holder.what = "deploy (the holder)"
	res.runs = append(res.runs, holder)
	return res
}

// namespaceWrapper returns the command line that runs a child in a PID
// namespace of its own, whose pid there this machine does not have, and
// for variant "machine" also with another machine id, boot id and home.
func (w *world) namespaceWrapper(variant string) []string {
	t := w.t
	max := 32768
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			max = n
		}
	}
	pid := 0
	for cand := max - 7; cand > max/2; cand -= 13 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", cand)); os.IsNotExist(err) {
			pid = cand
			break
		}
	}
	if pid == 0 {
		t.Fatal("no free pid for the foreign holder")
	}
	var setup strings.Builder
	if variant == "machine" {
		dir, err := os.MkdirTemp(w.l.Dir, "machine-")
		if err != nil {
			t.Fatal(err)
		}
		home := filepath.Join(dir, "home")
		os.Mkdir(home, 0o700)
		id := fmt.Sprintf("%032x\n", w.sc.Seed*0x9e3779b97f4a7c15)
		boot := fmt.Sprintf("%08x-0000-4000-8000-%012x\n", w.sc.Seed&0xffffffff, w.sc.Seed)
		for name, content := range map[string]string{"machine-id": id, "boot_id": boot} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
		for _, target := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
			if _, err := os.Stat(target); err == nil {
				fmt.Fprintf(&setup, "mount --bind %s %s || exit 97; ", q(filepath.Join(dir, "machine-id")), target)
			}
		}
		fmt.Fprintf(&setup, "mount --bind %s /proc/sys/kernel/random/boot_id || exit 97; ", q(filepath.Join(dir, "boot_id")))
		fmt.Fprintf(&setup, "export HOME=%s XDG_CONFIG_HOME=%s/.config XDG_STATE_HOME=%s/.local/state XDG_CACHE_HOME=%s/.cache; ", q(home), q(home), q(home), q(home))
	}
	// The next process the shell starts gets pid.
	fmt.Fprintf(&setup, `echo %d > /proc/sys/kernel/ns_last_pid || exit 97; "$0" "$@"; exit $?`, pid-1)
	return []string{"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", setup.String()}
}

// hostileLockRunIDs are the run ids planted by OpHostileLock, by variant:
// joined to .capstan/lock.d- they point at shared/, releases/, outside
// deploy_to, or would run code.
var hostileLockRunIDs = map[string]string{
	"shared":   "x/../../shared",
	"releases": "x/../../releases",
	"outside":  "x/../../../outside",
	"shell":    "$(touch${IFS}/srv/pwned-inv-7)",
}

// hostileLock plants, on op.Host, a lock whose details hold a hostile
// run_id, with a heartbeat an hour old (or, Fresh, just now), then runs
// deploy:unlock and, if a lock is left, FORCE=1 deploy:unlock: together
// they must remove the lock and nothing else. Then a deploy must succeed.
func (w *world) hostileLock(op Op, at time.Time, before []hostView) result {
	h := w.l.Hosts[op.Host]
	res := result{release: remote.ReleaseNameAt(at)}
	if w.dead[op.Host] {
		res.runs = []runResult{w.run(deploylib.Deploy, at)}
		return res
	}
	state := w.app(h, ".capstan")
	data := filepath.Join(state, "lock.d-planted")
	if err := w.mkdirAll(data, h.Root); err != nil {
		w.t.Fatal(err)
	}
	beat := time.Now().Add(-time.Hour)
	if op.Fresh {
		beat = time.Now()
	}
	details := strings.Join([]string{
		"capstan_lock=2", "run_id=" + hostileLockRunIDs[op.Variant], "user=mallory", "local_host=elsewhere.invalid",
		"pid=$(touch${IFS}/srv/pwned-inv-8)", "stage=lab", "task=deploy", "branch=main",
		"started=2026-01-01T00:00:00Z", "locked_at=2026-01-01T00:00:00Z",
	}, "\n") + "\n"
	for name, content := range map[string]string{"details": details, "heartbeat": fmt.Sprintf("heartbeat=%d\n", beat.Unix())} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o644); err != nil {
			w.t.Fatal(err)
		}
		os.Chown(filepath.Join(data, name), w.uid, w.gid)
	}
	if err := os.Symlink("lock.d-planted", filepath.Join(state, "lock")); err != nil {
		w.t.Fatal(err)
	}
	os.Lchown(filepath.Join(state, "lock"), w.uid, w.gid)

	unlock := w.run(deploylib.Unlock, at)
	res.runs = append(res.runs, unlock)
	if op.Fresh && !unlock.failed() {
		res.viol = append(res.viol, Violation{"exit-status", "", "deploy:unlock without FORCE removed a lock whose heartbeat is fresh"})
	}
	if _, err := os.Lstat(filepath.Join(state, "lock")); err == nil {
		w.t.Setenv("FORCE", "1")
		forced := w.run(deploylib.Unlock, at)
		os.Setenv("FORCE", "")
		forced.what = "deploy:unlock (FORCE=1)"
		res.runs = append(res.runs, forced)
		if forced.failed() && w.sc.questionable() == "" {
			res.viol = append(res.viol, Violation{"exit-status", h.Name, "FORCE=1 deploy:unlock failed on a lock with hostile details: " + firstLines(forced.message(), 4)})
		}
	}
	// A questionable configuration may refuse even deploy:unlock; then
	// the lock stays, for the team to remove below.
	refused := w.sc.questionable() != "" && allFailed(res.runs)
	mid := w.views()
	for i, v := range mid {
		if w.dead[i] {
			continue
		}
		if v.Locked && !refused {
			res.viol = append(res.viol, Violation{"no-stale-lock", v.Name, "deploy:unlock (FORCE=1 at last) left the lock with hostile details: " + strings.TrimSpace(v.Lock)})
		}
		for _, rel := range sortedKeys(v.Team) {
			if p := v.Team[rel]; p != "" && before[i].Team[rel] == "" {
				res.viol = append(res.viol, Violation{"shared-intact", v.Name, "after deploy:unlock of a lock with run_id " + hostileLockRunIDs[op.Variant] + ", the team's " + rel + ": " + p})
			}
		}
		for _, p := range sortedKeys(before[i].Outside) {
			if got, ok := v.Outside[p]; !ok || got != before[i].Outside[p] {
				res.viol = append(res.viol, Violation{"outside-intact", v.Name, "after deploy:unlock of a lock with hostile details, " + p + " (outside deploy_to) was removed or changed"})
			}
		}
	}
	if changed := w.unchanged(before, mid); changed != "" {
		res.viol = append(res.viol, Violation{"lock-only", "", "deploy:unlock of a lock with hostile details changed more than the lock: " + changed})
	}
	// What the team planted and the unlock left is the team's to remove.
	os.RemoveAll(data)
	os.Remove(filepath.Join(state, "lock"))
	res.runs = append(res.runs, w.run(deploylib.Deploy, at))
	res.decisive = len(res.runs)
	return res
}

// secretValue is the secret of an OpSecretLine of seed: secretLen
// characters none of which is in the filler around it.
func secretValue(seed uint64) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWZ23456789"
	var b strings.Builder
	x := seed*0x9e3779b97f4a7c15 + 1
	for b.Len() < secretLen {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte(alphabet[x%uint64(len(alphabet))])
	}
	return b.String()
}

// secretLine runs a deploy in a child that registers a secret and whose
// hook, after deploy:updated, prints on op.Host one line holding it around
// the console's line cap, then checks that no piece of the secret of 8
// characters or more is in the console's output or the log file.
func (w *world) secretLine(op Op, at time.Time) result {
	spec := w.childSpec("deploy", at)
	spec.Secret = secretValue(w.sc.Seed)
	spec.SecretAddr = w.l.Hosts[op.Host].Addr
	spec.SecretBefore = op.Cut*32<<10 - op.Offset
	// More than one cap after it: whatever pieces the connection hands
	// the output in, the line is still open when a cap's worth has come,
	// so it is cut there (a shorter line may arrive whole).
	spec.SecretAfter = 32<<10 + 128 + op.Offset
	spec.SecretFail = op.Fail
	spec.LogFile = filepath.Join(w.l.Dir, fmt.Sprintf("secret-%d.log", time.Now().UnixNano()))
	c := w.spawn(spec)
	r := c.wait(w)
	res := result{runs: []runResult{r}, release: remote.ReleaseNameAt(at), delivered: true}
	logText, err := os.ReadFile(spec.LogFile)
	for what, text := range map[string]string{"the console": r.out, "the log file": string(logText)} {
		if piece := secretPiece(spec.Secret, text, 8); piece != "" {
			res.viol = append(res.viol, Violation{"secret-redacted", "", fmt.Sprintf("%q, a piece of the secret, is in %s: %s", piece, what, around(text, piece))})
		}
	}
	// A run refused before the hook (a questionable configuration) has
	// neither the line nor, maybe, a log file; one that ran it has both.
	filler := strings.Repeat("x", 64)
	switch {
	case !strings.Contains(r.out, filler):
	case err != nil:
		res.viol = append(res.viol, Violation{"secret-redacted", "", "the hook's line is on the console but there is no log file: " + err.Error()})
	case !strings.Contains(string(logText), filler):
		res.viol = append(res.viol, Violation{"secret-redacted", "", "the log file does not hold the hook's output line"})
	}
	return res
}

// secretPiece returns the longest piece of secret, at least min long, that
// text holds, "" if none.
func secretPiece(secret, text string, min int) string {
	for n := len(secret); n >= min; n-- {
		for i := 0; i+n <= len(secret); i++ {
			if strings.Contains(text, secret[i:i+n]) {
				return secret[i : i+n]
			}
		}
	}
	return ""
}

// around returns the text near piece, runs of filler squeezed.
func around(text, piece string) string {
	i := strings.Index(text, piece)
	return strconv.Quote(squeezeRuns(text[max(0, i-60):min(len(text), i+len(piece)+60)]))
}

// squeezeRuns shortens every run of more than 16 equal bytes to
// "<byte×count>", so that a report quoting a line of 64 KiB stays short.
func squeezeRuns(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if j-i > 16 {
			fmt.Fprintf(&b, "<%c×%d>", s[i], j-i)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// farFutureName is the release OpFarFuture plants: the last 14-digit name.
const farFutureName = "99999999999999"

// farFuture plants a finished release named 99999999999999 (a copy of
// what the source holds, REVISION included) on every host or on op.Host,
// then deploys. The deploy either fails, naming the release and changing
// nothing, or succeeds and serves a new, complete release; either way the
// planted release is still there. Then the team removes it.
func (w *world) farFuture(op Op, at time.Time, before []hostView) result {
	var planted []int
	for i, h := range w.l.Hosts {
		if w.dead[i] || (op.Variant == "one" && i != op.Host) {
			continue
		}
		dir := w.app(h, "releases/"+farFutureName)
		if err := w.mkdirAll(filepath.Dir(dir), h.Root); err != nil {
			w.t.Fatal(err)
		}
		if err := writeTree(dir, w.sc.Files, w.sc.Symlinks); err != nil {
			w.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "REVISION"), []byte(w.sha+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "REVISION_TIME"), []byte("1767355200\n"), 0o644)
		if out, err := exec.Command("chown", "-R", "-h", fmt.Sprintf("%d:%d", w.uid, w.gid), dir).CombinedOutput(); err != nil {
			w.t.Fatalf("chown %s: %v\n%s", dir, err, out)
		}
		planted = append(planted, i)
	}
	withPlant := w.views()
	r := w.run(deploylib.Deploy, at)
	res := result{runs: []runResult{r}}
	after := w.views()
	if r.failed() {
		// A questionable configuration may be refused for itself.
		if !strings.Contains(r.message(), farFutureName) && w.sc.questionable() == "" {
			res.viol = append(res.viol, Violation{"failure-named", "", "a deploy with a release " + farFutureName + " on the hosts failed without naming it: " + firstLines(r.message(), 4)})
		}
		if changed := w.unchanged(withPlant, after); changed != "" {
			res.viol = append(res.viol, Violation{"exit-status", "", "a deploy refused because of release " + farFutureName + " changed something: " + changed})
		}
	} else if cur := currentName(after[w.firstLive()], w.sc.DeployTo); cur == farFutureName || before[w.firstLive()].Releases[cur].Dir {
		res.viol = append(res.viol, Violation{"exit-status", "", "a deploy with a release " + farFutureName + " on the hosts succeeded but serves " + cur + ", not a new release"})
	} else {
		res.release = cur // checked as any deploy's (current, revisions.log)
	}
	for _, i := range planted {
		if !after[i].Releases[farFutureName].Dir {
			res.viol = append(res.viol, Violation{"releases", after[i].Name, "the release " + farFutureName + " was removed by the deploy"})
		}
		if currentName(after[i], w.sc.DeployTo) != farFutureName {
			os.RemoveAll(w.app(w.l.Hosts[i], "releases/"+farFutureName))
			os.Remove(w.app(w.l.Hosts[i], ".capstan/unfinished/"+farFutureName))
		}
	}
	return res
}

// stuckRemoval makes sure there is a finished release, plants in the
// oldest one on op.Host a file the deploy user cannot remove, deploys
// until cleanup must remove that release, and checks that what is left
// of it is marked unfinished (a half-removed release never counts as a
// finished one). Then the obstacle goes and one more deploy must remove
// the rest.
func (w *world) stuckRemoval(op Op, at time.Time) result {
	res := result{}
	h := w.l.Hosts[op.Host]
	deploy := func() runResult {
		r := w.run(deploylib.Deploy, at)
		res.runs = append(res.runs, r)
		at = at.Add(time.Second)
		return r
	}
	fin := finished(w.view(h))
	if len(fin) == 0 || w.dead[op.Host] {
		res.release = nextRelease(w.views(), remote.ReleaseNameAt(at))
		w.clock = at
		if deploy().failed() || w.dead[op.Host] {
			res.decisive = len(res.runs)
			return res
		}
		fin = finished(w.view(h))
	}
	if len(fin) == 0 {
		w.t.Fatalf("%s: no finished release after a successful deploy", h.Name)
	}
	target := fin[0]
	dir := w.app(h, "releases/"+target+"/stuck")
	if err := w.mkdirAll(dir, h.Root); err != nil {
		w.t.Fatal(err)
	}
	file := filepath.Join(dir, "cannot-remove.txt")
	if err := os.WriteFile(file, []byte("stuck\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	immutable := false
	if op.Variant == "immutable" {
		out, err := exec.Command("chattr", "+i", file).CombinedOutput()
		if immutable = err == nil; !immutable {
			// Not every file system has the flag (overlayfs, tmpfs).
			w.t.Logf("chattr +i %s: %v %s; a directory of root's instead", file, err, strings.TrimSpace(string(out)))
		}
	}
	unstick := func() { exec.Command("chattr", "-i", file).Run() }
	if !immutable {
		// A directory of root's, which the deploy user cannot empty.
		os.Chown(file, 0, 0)
		os.Chown(dir, 0, 0)
		unstick = func() { os.Chown(dir, w.uid, w.gid); os.Chown(file, w.uid, w.gid) }
	}
	// Deploys until the target is beyond keep_releases on h: at least one,
	// since h may already hold more finished releases than keep_releases
	// (a deploy that failed after publishing keeps its release live).
	for n := max(1, w.sc.KeepReleases-len(fin)+1); n > 0; n-- {
		deploy()
	}
	v := w.view(h)
	_, marked := v.Unfinished[target]
	if rel, exists := v.Releases[target]; exists {
		switch {
		case !marked:
			res.viol = append(res.viol, Violation{"no-unfinished", h.Name, fmt.Sprintf("release %s, which cleanup could not remove whole (REVISION %s), is not marked unfinished: it counts as a finished release", target, map[bool]string{true: "gone", false: "kept"}[rel.Revision == ""])})
		case currentName(v, w.sc.DeployTo) == target:
			res.viol = append(res.viol, Violation{"current-complete", h.Name, "current points at the half-removed release " + target})
		}
		if w.unpublished == nil {
			w.unpublished = map[string]string{}
		}
		w.unpublished[target] = stuck
	} else if !w.dead[op.Host] {
		res.viol = append(res.viol, Violation{"setup", h.Name, "release " + target + " with a file cleanup cannot remove is gone: the obstacle did not hold"})
	}
	unstick()
	// checkUnpublished checks that the next successful cleanup removes
	// what is left of it.
	res.release = nextRelease(w.views(), remote.ReleaseNameAt(at))
	w.clock = at
	deploy()
	res.decisive = len(res.runs)
	return res
}

// holdAfterLock hangs, in a child, a hook after deploy:lock that reports
// on dir/event and waits for a line on dir/go: the run holds the lock,
// alive, its heartbeat fresh, while the parent acts.
func holdAfterLock(dir string) {
	deploylib.After(deploylib.Lock, func(context.Context) error {
		if f, err := os.OpenFile(filepath.Join(dir, "event"), os.O_WRONLY, 0); err == nil {
			fmt.Fprintln(f, "holding the lock")
			f.Close()
		}
		f, err := os.Open(filepath.Join(dir, "go"))
		if err != nil {
			return err
		}
		defer f.Close()
		bufio.NewReader(f).ReadString('\n')
		return nil
	})
}

// secretHook hangs, in a child, a hook after deploy:updated that prints on
// the host at addr a line of before 'x's, the secret (given on standard
// input, never on the command line) and after 'y's; with fail, on
// standard error, and the command fails.
func secretHook(secret deploylib.Secret, addr string, before, after int, fail bool) {
	script := fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x; printf %%s "$INV_SECRET"; head -c %d /dev/zero | tr '\0' y; echo`, before, after)
	if fail {
		script = "{ " + script + "; } >&2; echo " + hookFailure + " >&2; exit 3"
	}
	deploylib.After(deploylib.Updated, func(ctx context.Context) error {
		return deploylib.On(ctx, deploylib.All(), func(ctx context.Context, h *deploylib.Host) error {
			if !strings.HasSuffix(h.Server.Host, "@"+addr) {
				return nil
			}
			return h.WithSecretEnv("INV_SECRET", secret).Execute(ctx, "sh", "-c", script)
		})
	})
}
