module github.com/pion/sctp

require (
	github.com/pion/logging v0.2.4
	github.com/pion/randutil v0.1.0
	github.com/pion/transport/v5 v5.1.1
)

require golang.org/x/time v0.14.0 // indirect

go 1.24.0
