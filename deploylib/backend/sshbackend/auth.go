package sshbackend

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// sshAgent is a connection to the ssh-agent at $SSH_AUTH_SOCK, kept open
// for the life of a Conn (agent forwarding serves from it).
type sshAgent struct {
	sock   string
	conn   net.Conn
	client agent.ExtendedAgent
}

// agentBusyWait is how long openAgent retries an agent whose listen queue
// is full.
const agentBusyWait = 5 * time.Second

// openAgent connects to $SSH_AUTH_SOCK. It returns nil, nil when the
// variable is not set.
func openAgent() (*sshAgent, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil
	}
	conn, err := net.Dial("unix", sock)
	// A busy agent's listen queue may be full (128 connections waiting
	// for ssh-agent to accept them, when hundreds of hosts are dialed at
	// once): that fails at once with EAGAIN, so try again for a while.
	for wait, waited := time.Millisecond, time.Duration(0); errors.Is(err, syscall.EAGAIN) && waited < agentBusyWait; waited += wait {
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
		conn, err = net.Dial("unix", sock)
	}
	if err != nil {
		return nil, fmt.Errorf("sshbackend: ssh-agent at SSH_AUTH_SOCK=%s: %w", sock, err)
	}
	return &sshAgent{sock: sock, conn: conn, client: agent.NewClient(conn)}, nil
}

func (a *sshAgent) Close() error {
	if a == nil {
		return nil
	}
	return a.conn.Close()
}

// identities are the keys offered to one hop, and what was tried.
type identities struct {
	agent   *sshAgent
	signers []ssh.Signer // from files
	notes   []string     // one per file or agent key, for AuthError
	asked   bool         // the agent's keys were fetched and noted
}

// loadIdentities reads the private key files. Files that are missing or
// need a passphrase are skipped and noted, as OpenSSH does.
func loadIdentities(files []string, ag *sshAgent) *identities {
	ids := &identities{agent: ag}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				ids.notes = append(ids.notes, f+" (not found)")
			} else {
				ids.notes = append(ids.notes, fmt.Sprintf("%s (%v)", f, err))
			}
			continue
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				ids.notes = append(ids.notes, f+" (has a passphrase: load it into ssh-agent)")
			} else {
				ids.notes = append(ids.notes, fmt.Sprintf("%s (unreadable key: %v)", f, err))
			}
			continue
		}
		ids.signers = append(ids.signers, s)
		ids.notes = append(ids.notes, fmt.Sprintf("%s (%s %s)", f, s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey())))
	}
	return ids
}

// method returns the public key auth method: the agent's keys first, then
// the files', each key once. The agent is asked for its keys on first use.
func (ids *identities) method() ssh.AuthMethod {
	return ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		if ids.agent != nil && !ids.asked {
			ids.asked = true
			ids.addAgentKeys()
		}
		var all []ssh.Signer
		seen := map[string]bool{}
		for _, s := range ids.signers {
			k := string(s.PublicKey().Marshal())
			if !seen[k] {
				seen[k] = true
				all = append(all, s)
			}
		}
		return all, nil
	})
}

// addAgentKeys puts the agent's keys before the files' keys.
func (ids *identities) addAgentKeys() {
	signers, err := ids.agent.client.Signers()
	var notes []string
	switch {
	case err != nil:
		notes = append(notes, fmt.Sprintf("ssh-agent (%v)", err))
	case len(signers) == 0:
		notes = append(notes, "ssh-agent (no keys)")
	}
	for _, s := range signers {
		notes = append(notes, fmt.Sprintf("agent key %s %s", s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey())))
	}
	ids.signers = append(signers, ids.signers...)
	ids.notes = append(notes, ids.notes...)
}
