module limers.test/interop/go-peer

go 1.25.5

require github.com/takenet/lime-go v0.2.1

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/sync v0.19.0 // indirect
)
