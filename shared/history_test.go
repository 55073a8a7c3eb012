package shared

import (
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

func TestHistoryFrames(t *testing.T) {
	req := Frame{Type: TypeHistory, Ref: "h1", Channel: "chat", Since: "5-9", Limit: 20, Reverse: true}
	enc := string(AppendFrame(nil, &req))
	assert.Equal(t, "request", enc, `{"type":"history","ref":"h1","channel":"chat","since":"5-9","limit":20,"reverse":true}`)
	got, err := DecodeFrame([]byte(enc))
	assert.NoError(t, err)
	assert.Equal(t, "request round trip", got, req)

	msgs := []Envelope{{ID: "5-7", Channel: "chat", Event: "message", Data: []byte(`{"t":"a"}`), TS: 1}, {ID: "5-8", Channel: "chat", Event: "e", Data: []byte{1, 2}, TS: 2, Binary: true}}
	reply := Frame{Type: TypeHistory, Ref: "h1", Channel: "chat", Messages: msgs, Complete: false, Next: "5-7"}
	enc = string(AppendFrame(nil, &reply))
	assert.Equal(t, "reply", enc, `{"type":"history","ref":"h1","channel":"chat","messages":[{"id":"5-7","channel":"chat","event":"message","data":{"t":"a"},"ts":1},{"id":"5-8","channel":"chat","event":"e","data":"AQI=","encoding":"base64","ts":2}],"complete":false,"next":"5-7"}`)
	got, err = DecodeFrame([]byte(enc))
	assert.NoError(t, err)
	assert.Equal(t, "reply round trip", got, reply)

	empty := Frame{Type: TypeHistory, Channel: "c", Messages: []Envelope{}, Complete: true}
	enc = string(AppendFrame(nil, &empty))
	assert.Equal(t, "empty reply", enc, `{"type":"history","channel":"c","messages":[],"complete":true}`)

	body := string(AppendHistoryPage(nil, "chat", msgs[:1], true, ""))
	assert.Equal(t, "HTTP body", body, `{"channel":"chat","messages":[{"id":"5-7","channel":"chat","event":"message","data":{"t":"a"},"ts":1}],"complete":true}`)
	page, err := DecodeHistoryPage([]byte(body))
	assert.NoError(t, err)
	assert.Equal(t, "HTTP body decoded", []any{page.Channel, len(page.Messages), page.Complete, page.Next}, []any{"chat", 1, true, ""})
	_, err = DecodeHistoryPage([]byte(`{"code":4403,"message":"no"}`))
	assert.True(t, "an error body is not a page", err != nil)
	_, err = DecodeFrame([]byte(`{"type":"history","reverse":1}`))
	assert.True(t, "reverse must be a boolean", err != nil)
}
