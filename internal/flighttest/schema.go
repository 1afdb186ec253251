package flighttest

import flatbuffers "github.com/google/flatbuffers/go"

// NestedSchemaHeader is the flatbuffer of an IPC schema message (what a
// client sends as a FlightData's data_header) of one field whose children
// nest depth levels deep, each level's children naming its one child
// table width times: width 1 is a plain chain (a list of a list ...), 2 a
// tree of 2^depth leaves in a few bytes a level. Hostile clients send
// such schemas; no Arrow library writes them.
func NestedSchemaHeader(depth, width int) []byte {
	const (
		fieldSlots, fieldChildren = 7, 5 // Field's fields; children's slot
		schemaSlots, schemaFields = 4, 1
		messageSlots              = 5
		headerType, header        = 1, 2 // Message's slots
		headerSchema              = 1    // MessageHeader.Schema
	)
	b := flatbuffers.NewBuilder(0)
	b.StartObject(fieldSlots)
	child := b.EndObject()
	for range depth {
		b.StartVector(4, width, 4)
		for range width {
			b.PrependUOffsetT(child)
		}
		vec := b.EndVector(width)
		b.StartObject(fieldSlots)
		b.PrependUOffsetTSlot(fieldChildren, vec, 0)
		child = b.EndObject()
	}
	b.StartVector(4, 1, 4)
	b.PrependUOffsetT(child)
	fields := b.EndVector(1)
	b.StartObject(schemaSlots)
	b.PrependUOffsetTSlot(schemaFields, fields, 0)
	schema := b.EndObject()
	b.StartObject(messageSlots)
	b.PrependByteSlot(headerType, headerSchema, 0)
	b.PrependUOffsetTSlot(header, schema, 0)
	b.Finish(b.EndObject())
	return b.FinishedBytes()
}
