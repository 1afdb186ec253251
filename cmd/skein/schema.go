package main

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func flightsqlSchema(b []byte) (*arrow.Schema, error) {
	return flight.DeserializeSchema(b, memory.DefaultAllocator)
}
