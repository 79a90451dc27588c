package sshbackend

import (
	"reflect"
	"testing"
)

func TestParseProxyJump(t *testing.T) {
	tests := []struct {
		in      string
		want    []hop
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "none", want: nil},
		{in: "bastion", want: []hop{{host: "bastion"}}},
		{in: "deploy@bastion:2222", want: []hop{{user: "deploy", host: "bastion", port: 2222}}},
		{in: "a@b.example.com, c:23", want: []hop{{user: "a", host: "b.example.com"}, {host: "c", port: 23}}},
		{in: "ssh://u@[::1]:2200", want: []hop{{user: "u", host: "::1", port: 2200}}},
		{in: "[fe80::1]", want: []hop{{host: "fe80::1"}}},
		{in: "2001:db8::1", want: []hop{{host: "2001:db8::1"}}},
		{in: "@host", wantErr: true},
		{in: "host:0", wantErr: true},
		{in: "host:http", wantErr: true},
		{in: "-oProxyCommand=x", wantErr: true},
		{in: "a,,b", wantErr: true},
		{in: "[::1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseProxyJump(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseProxyJump(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseProxyJump(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
