// Command floor serves flighttest.Floor, the least a Flight SQL server can
// do for a query (arrow-go's server answering from memory), on loopback.
// bench/rpc_breakdown.py runs the same ADBC client against it and against
// Skein, so that what the client driver costs and what Skein costs are
// told apart.
//
//	go build -o build/floor ./bench/floor && build/floor   # prints "skein ready: grpc://127.0.0.1:PORT"
package main

import (
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/flighttest"
)

func main() {
	f := flighttest.NewFloor()
	defer f.Release()
	srv := flight.NewServerWithMiddleware(nil)
	srv.RegisterFlightService(flightsql.NewFlightServer(f))
	if err := srv.Init("127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	fmt.Println("skein ready: grpc://" + srv.Addr().String())
	if err := srv.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}
