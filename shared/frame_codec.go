package shared

import "strconv"

// The JSON form of frames and envelopes (PROTOCOL.md): decoding on the
// package's JSON scanner, encoding field by field with zero fields left out.

// DecodeFrame decodes one frame. Unknown keys are skipped (after validation)
// so newer peers can add fields; "data" is kept as raw JSON. It does not check
// that the frame's fields make sense for its type: that is the receiver's job.
// The returned Frame does not alias p except for Data, which does.
func DecodeFrame(p []byte) (Frame, error) {
	f, err := decodeFrameFields(p)
	if err != nil {
		return Frame{}, err
	}
	if f.Type == "" {
		return Frame{}, &jsonError{msg: `missing "type"`, off: 0}
	}
	return f, nil
}

// DecodeHistoryPage decodes the body of a GET /rt/history answer,
// {"channel","messages","complete","next"}, into a Frame's fields.
func DecodeHistoryPage(p []byte) (Frame, error) {
	f, err := decodeFrameFields(p)
	if err == nil && f.Messages == nil {
		err = &jsonError{msg: `missing "messages"`, off: 0}
	}
	return f, err
}

func decodeFrameFields(p []byte) (Frame, error) {
	var f Frame
	var enc string
	d := decoder{p: p}
	d.object(func(key string) {
		switch key {
		case "type":
			f.Type = d.str()
		case "ref":
			f.Ref = d.str()
		case "channels":
			f.Channels = d.strings()
		case "lastEventId":
			f.LastEventID = d.str()
		case "id":
			f.ID = d.str()
		case "channel":
			f.Channel = d.str()
		case "event":
			f.Event = d.str()
		case "data":
			f.Data = d.raw()
		case "ts":
			f.TS = d.int()
		case "code":
			c := d.int()
			if c < 0 || c > 0xFFFF {
				d.fail("code out of range")
			}
			f.Code = Code(c)
		case "message":
			f.Message = d.str()
		case "reason":
			f.Reason = d.str()
		case "client":
			f.Client = d.str()
		case "heartbeatMs":
			f.Heartbeat = d.int()
		case "maxFrameBytes":
			f.MaxFrameBytes = d.int()
		case "maxChannels":
			f.MaxChannels = d.int()
		case "user":
			f.User = d.str()
		case "clients":
			f.Clients = d.presenceEntries()
		case "count":
			f.Count = d.int()
		case "users":
			f.Users = d.int()
		case "encoding":
			enc = d.str()
		case "idempotencyKey":
			f.IdempotencyKey = d.str()
		case "since":
			f.Since = d.str()
		case "limit":
			f.Limit = d.int()
		case "reverse":
			f.Reverse = d.boolean()
		case "messages":
			f.Messages = d.envelopes()
		case "complete":
			f.Complete = d.boolean()
		case "next":
			f.Next = d.str()
		default:
			d.skip(1)
		}
	})
	if err := d.end(); err != nil {
		return Frame{}, err
	}
	var err error
	if f.Data, f.Binary, err = decodeDataEncoding(f.Data, enc); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// boolean decodes true or false.
func (d *decoder) boolean() bool {
	switch {
	case d.next() == 't' && d.literal("true"):
		return true
	case d.next() == 'f' && d.literal("false"):
		return false
	}
	d.fail("expected true or false")
	return false
}

// envelopes decodes an array of envelopes; null gives nil.
func (d *decoder) envelopes() []Envelope {
	if d.null() {
		return nil
	}
	out := []Envelope{}
	d.array(func() {
		e, err := DecodeEnvelope(d.raw())
		if err != nil && d.err == nil {
			d.fail("bad envelope in \"messages\": " + err.Error())
		}
		out = append(out, e)
	})
	if d.err != nil {
		return nil
	}
	return out
}

// DecodeEnvelope decodes an envelope, as found in the data of an SSE message.
func DecodeEnvelope(p []byte) (Envelope, error) {
	var e Envelope
	var enc string
	d := decoder{p: p}
	d.object(func(key string) {
		switch key {
		case "id":
			e.ID = d.str()
		case "channel":
			e.Channel = d.str()
		case "event":
			e.Event = d.str()
		case "data":
			e.Data = d.raw()
		case "ts":
			e.TS = d.int()
		case "encoding":
			enc = d.str()
		default:
			d.skip(1)
		}
	})
	if err := d.end(); err != nil {
		return e, err
	}
	var err error
	e.Data, e.Binary, err = decodeDataEncoding(e.Data, enc)
	return e, err
}

// AppendEnvelope appends the JSON form of e to dst.
func AppendEnvelope(dst []byte, e *Envelope) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, e.ID)
	dst = append(dst, `,"channel":`...)
	dst = AppendJSONString(dst, e.Channel)
	dst = append(dst, `,"event":`...)
	dst = AppendJSONString(dst, e.Event)
	dst = appendDataField(dst, e.Data, e.Binary)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, e.TS, 10)
	return append(dst, '}')
}

// AppendFrame appends the JSON form of f to dst. Zero fields are left out,
// except that a message frame always carries its full envelope.
func AppendFrame(dst []byte, f *Frame) []byte {
	dst = append(dst, `{"type":`...)
	dst = AppendJSONString(dst, f.Type)
	if f.Type == TypeMessage {
		dst = append(dst, `,"id":`...)
		dst = AppendJSONString(dst, f.ID)
		dst = append(dst, `,"channel":`...)
		dst = AppendJSONString(dst, f.Channel)
		dst = append(dst, `,"event":`...)
		dst = AppendJSONString(dst, f.Event)
		dst = appendDataField(dst, f.Data, f.Binary)
		dst = append(dst, `,"ts":`...)
		dst = strconv.AppendInt(dst, f.TS, 10)
		return append(dst, '}')
	}
	dst = appendStringField(dst, "ref", f.Ref)
	if f.Type == TypeHistory && f.Messages != nil {
		dst = appendHistoryFields(append(dst, ','), f.Channel, f.Messages, f.Complete, f.Next)
		return append(dst, '}')
	}
	if f.Channels != nil {
		dst = append(dst, `,"channels":[`...)
		for i, c := range f.Channels {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, c)
		}
		dst = append(dst, ']')
	}
	dst = appendStringField(dst, "lastEventId", f.LastEventID)
	dst = appendStringField(dst, "id", f.ID)
	dst = appendStringField(dst, "channel", f.Channel)
	dst = appendStringField(dst, "event", f.Event)
	if f.Data != nil || f.Binary {
		dst = appendDataField(dst, f.Data, f.Binary)
	}
	dst = appendIntField(dst, "ts", f.TS)
	dst = appendStringField(dst, "idempotencyKey", f.IdempotencyKey)
	dst = appendStringField(dst, "since", f.Since)
	dst = appendIntField(dst, "limit", f.Limit)
	if f.Reverse {
		dst = append(dst, `,"reverse":true`...)
	}
	dst = appendIntField(dst, "code", int64(f.Code))
	dst = appendStringField(dst, "message", f.Message)
	dst = appendStringField(dst, "reason", f.Reason)
	dst = appendStringField(dst, "client", f.Client)
	dst = appendIntField(dst, "heartbeatMs", f.Heartbeat)
	dst = appendIntField(dst, "maxFrameBytes", f.MaxFrameBytes)
	dst = appendIntField(dst, "maxChannels", f.MaxChannels)
	dst = appendStringField(dst, "user", f.User)
	if f.Clients != nil {
		dst = append(dst, `,"clients":`...)
		dst = AppendPresenceEntries(dst, f.Clients)
	}
	if f.Type == TypePresence || f.Type == TypePresenceStats {
		// Counts are part of the answer even when zero.
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, f.Count, 10)
		dst = append(dst, `,"users":`...)
		dst = strconv.AppendInt(dst, f.Users, 10)
	} else {
		dst = appendIntField(dst, "count", f.Count)
		dst = appendIntField(dst, "users", f.Users)
	}
	return append(dst, '}')
}

// AppendPresenceEntries appends the JSON array of es to dst:
// [{"client":C,"user":U,"info":<JSON>},…], with "user" and "info" left out
// when empty.
func AppendPresenceEntries(dst []byte, es []PresenceEntry) []byte {
	dst = append(dst, '[')
	for i := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"client":`...)
		dst = AppendJSONString(dst, es[i].Client)
		dst = appendStringField(dst, "user", es[i].User)
		if es[i].Info != nil {
			dst = append(dst, `,"info":`...)
			dst = appendRaw(dst, es[i].Info)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// presenceEntries decodes a "clients" array; null is nil.
func (d *decoder) presenceEntries() []PresenceEntry {
	if d.null() {
		return nil
	}
	d.expect('[')
	out := []PresenceEntry{}
	if d.next() == ']' {
		d.i++
		return out
	}
	for d.err == nil {
		var e PresenceEntry
		d.object(func(key string) {
			switch key {
			case "client":
				e.Client = d.str()
			case "user":
				e.User = d.str()
			case "info":
				e.Info = d.rawAt(3) // in the frame, the array and the entry
			default:
				d.skip(3)
			}
		})
		out = append(out, e)
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			return out
		default:
			d.fail("expected ',' or ']'")
		}
	}
	return nil
}

// AppendHistoryPage appends a page of history as GET /rt/history answers
// it: {"channel":C,"messages":[envelopes],"complete":bool,"next":ID}, next
// left out when empty.
func AppendHistoryPage(dst []byte, channel string, msgs []Envelope, complete bool, next string) []byte {
	dst = appendHistoryFields(append(dst, '{'), channel, msgs, complete, next)
	return append(dst, '}')
}

// appendHistoryFields appends a history page's fields, without braces.
func appendHistoryFields(dst []byte, channel string, msgs []Envelope, complete bool, next string) []byte {
	dst = append(dst, `"channel":`...)
	dst = AppendJSONString(dst, channel)
	dst = append(dst, `,"messages":[`...)
	for i := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendEnvelope(dst, &msgs[i])
	}
	dst = append(dst, `],"complete":`...)
	dst = strconv.AppendBool(dst, complete)
	return appendStringField(dst, "next", next)
}

func appendStringField(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return AppendJSONString(dst, v)
}

func appendIntField(dst []byte, key string, v int64) []byte {
	if v == 0 {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}
