module github.com/capstan-deploy/capstan

go 1.26.8

tool github.com/magefile/mage

require (
	github.com/fatih/color v1.19.0
	github.com/kevinburke/ssh_config v1.6.0
	github.com/magefile/mage v1.17.2
	github.com/mattn/go-isatty v0.0.20
	github.com/melbahja/goph v1.5.2
	github.com/pkg/sftp v1.13.11
	golang.org/x/crypto v0.54.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.45.0
)

require (
	github.com/kr/fs v0.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/pkg/errors v0.9.1 // indirect
)
