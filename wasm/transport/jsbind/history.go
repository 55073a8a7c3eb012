//go:build js && wasm

package jsbind

import (
	"syscall/js"

	"github.com/duet-rt/duet/shared"
	jsw "github.com/duet-rt/duet/wasm/internal/js"
	"github.com/duet-rt/duet/wasm/transport"
)

// history(channel, {since, limit, reverse}?) → Promise<{channel, messages,
// complete, next?}>
func (c *conn) jsHistory(args []js.Value) any {
	ch, opts := jsw.Arg(args, 0), jsw.Arg(args, 1)
	if ch.Type() != js.TypeString {
		return jsw.RejectedWith(jsw.NewTypeError("duet: history(channel, options): channel must be a string"))
	}
	var q transport.HistoryQuery
	if v := jsw.Prop(opts, "since"); !jsw.Nullish(v) {
		if v.Type() != js.TypeString {
			return jsw.RejectedWith(jsw.NewTypeError("duet: history: since must be a string (a message id)"))
		}
		q.Since = v.String()
	}
	if v := jsw.Prop(opts, "limit"); !jsw.Nullish(v) {
		if v.Type() != js.TypeNumber || v.Float() != float64(v.Int()) || v.Int() < 1 {
			return jsw.RejectedWith(jsw.NewTypeError("duet: history: limit must be a positive integer"))
		}
		q.Limit = v.Int()
	}
	if v := jsw.Prop(opts, "reverse"); !jsw.Nullish(v) {
		q.Reverse = v.Truthy()
	}
	d := jsw.NewDeferred()
	c.cl.History(ch.String(), q, func(p *transport.HistoryPage, err error) {
		if err != nil {
			d.RejectWith(errorValue(err, false))
			return
		}
		msgs := make([]any, 0, len(p.Messages))
		for i := range p.Messages {
			m, err := messageValue(&p.Messages[i])
			if err != nil {
				d.RejectWith(errorValue(shared.NewError(shared.CodeBadRequest, "duet: cannot decode a message of history: "+err.Error()), false))
				return
			}
			msgs = append(msgs, m)
		}
		res := jsw.NewObject()
		res.Set("channel", p.Channel)
		res.Set("messages", js.ValueOf(msgs))
		res.Set("complete", p.Complete)
		if p.Next != "" {
			res.Set("next", p.Next)
		}
		d.Resolve(res)
	})
	return d.Promise
}
