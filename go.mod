module github.com/beamup/beamup

go 1.26.8

require (
	aead.dev/minisign v0.3.0
	github.com/ergo-services/ergo v1.999.224
	github.com/pelletier/go-toml/v2 v2.4.3
	github.com/peterbourgon/ff/v3 v3.4.0
)

require (
	golang.org/x/crypto v0.13.0 // indirect
	golang.org/x/sys v0.12.0 // indirect
)
