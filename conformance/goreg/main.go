// Command goreg serves the Go ociregistry library (cuelabs.dev/go/oci/ociregistry)
// over plain HTTP: ociserver.New(ocimem.New(), opts). It is the baseline peer for
// `cargo xtask conformance --stack go-ociregistry` and for benchmarks; it is not
// part of the product.
//
// It listens on -addr (default 127.0.0.1:0) and prints exactly one line to stdout,
// before serving any request:
//
//	listening on http://HOST:PORT
//
// which is the same protocol the harness expects from ocisrv.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"cuelabs.dev/go/oci/ociregistry/ocimem"
	"cuelabs.dev/go/oci/ociregistry/ociserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	noFilter := flag.Bool("disable-referrers-filtering", false, "set ociserver.Options.DisableReferrersFiltering")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("goreg: %v", err)
	}
	handler := ociserver.New(ocimem.New(), &ociserver.Options{
		DisableReferrersFiltering: *noFilter,
	})
	fmt.Fprintf(os.Stdout, "listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, handler))
}
