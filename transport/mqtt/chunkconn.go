package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// chunkConn is a connection of its own to the broker for the chunks of
// one download. paho reads every message into a buffer of the message's
// size and copies the payload into a second one; at the broker's pace
// that is most of what a device spends on a download besides the hash
// and the write. Here each chunk is read from the socket straight into a
// buffer the caller gives, sized by the manifest: nothing larger than a
// chunk is ever allocated for what a broker sends. The packets are
// paho's. Subscriptions are at QoS 1: a broker may drop a QoS 0 message
// it cannot send at once (mosquitto 2.0 does with max_queued_messages 0,
// and then holds the rest until the client sends something), where a
// QoS 1 message waits for its turn; each costs a 4-byte acknowledgement.
type chunkConn struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex // guards writes and id
	id   uint16
	got  atomic.Int64 // messages handed over
}

// errProtocol is a broker's answer that breaks MQTT 3.1.1 or refuses us.
var errProtocol = errors.New("MQTT protocol")

// dialChunks connects to o's broker as o.ClientID+"-chunks": a client id
// of its own, or the broker would drop the device's main connection for
// this one.
func dialChunks(ctx context.Context, o Options) (*chunkConn, error) {
	addr, tc, err := brokerAddr(o)
	if err != nil {
		return nil, err
	}
	pw, err := password(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var conn net.Conn
	if tc == nil {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&tls.Dialer{Config: tc}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &chunkConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	// The handshake has until the deadline; the connection, after it, has
	// no deadline at all (a download takes as long as the link does).
	conn.SetDeadline(deadline)
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion = "MQTT", 4
	cp.ClientIdentifier, cp.CleanSession = o.ClientID+"-chunks", true
	if o.Username != "" {
		cp.UsernameFlag, cp.Username = true, o.Username
		cp.PasswordFlag, cp.Password = pw != "", []byte(pw)
	}
	if err := cp.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	typ, n, err := c.header()
	if err == nil && (typ>>4 != packets.Connack || n != 2) {
		err = fmt.Errorf("%w: the broker answered CONNECT with packet type %d", errProtocol, typ>>4)
	}
	var ack [2]byte
	if err == nil {
		_, err = io.ReadFull(c.r, ack[:])
	}
	if err == nil && ack[1] != packets.Accepted {
		err = fmt.Errorf("%w: %s", errProtocol, packets.ConnackReturnCodes[ack[1]])
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// header reads a packet's fixed header: its type and remaining length.
func (c *chunkConn) header() (typ byte, n int, err error) {
	b, err := c.r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	for shift := 0; ; shift += 7 {
		if shift > 21 {
			return 0, 0, fmt.Errorf("%w: remaining length longer than 4 bytes", errProtocol)
		}
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, 0, err
		}
		n |= int(d&127) << shift
		if d&128 == 0 {
			return b, n, nil
		}
	}
}

func (c *chunkConn) write(p packets.ControlPacket) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.id++; c.id == 0 {
		c.id = 1
	}
	switch p := p.(type) {
	case *packets.SubscribePacket:
		p.MessageID = c.id
	case *packets.UnsubscribePacket:
		p.MessageID = c.id
	}
	return p.Write(c.conn)
}

// subscribe asks for topic: the broker sends its retained message again.
func (c *chunkConn) subscribe(topic string) error {
	p := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	p.Topics, p.Qoss = []string{topic}, []byte{1}
	return c.write(p)
}

func (c *chunkConn) unsubscribe(topic string) error {
	p := packets.NewControlPacket(packets.Unsubscribe).(*packets.UnsubscribePacket)
	p.Topics = []string{topic}
	return c.write(p)
}

// Close ends the connection; serve returns.
func (c *chunkConn) Close() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	p := packets.NewControlPacket(packets.Disconnect)
	p.Write(c.conn)
	return c.conn.Close()
}

// maxControl bounds the packets other than PUBLISH that serve accepts:
// acknowledgements of a few bytes.
const maxControl = 1 << 10

// serve reads what the broker sends until the connection ends. For each
// message, buffer is given its topic and payload size and returns where
// to read the payload (at least size bytes), or nil to skip it; then got
// has the payload. A broker that breaks the protocol ends the connection.
func (c *chunkConn) serve(buffer func(topic string, size int) []byte, got func(data []byte)) error {
	for {
		typ, n, err := c.header()
		if err != nil {
			return err
		}
		if typ>>4 != packets.Publish {
			if n > maxControl {
				return fmt.Errorf("%w: a packet of type %d and %d bytes", errProtocol, typ>>4, n)
			}
			if _, err := c.r.Discard(n); err != nil {
				return err
			}
			continue
		}
		qos := (typ >> 1) & 3
		var tl [2]byte
		if _, err := io.ReadFull(c.r, tl[:]); err != nil {
			return err
		}
		tlen := int(binary.BigEndian.Uint16(tl[:]))
		size := n - 2 - tlen
		if qos > 0 {
			size -= 2
		}
		if size < 0 || qos > 1 { // QoS 2 is more than was asked for
			return fmt.Errorf("%w: a PUBLISH of %d bytes with QoS %d", errProtocol, n, qos)
		}
		topic := make([]byte, tlen)
		if _, err := io.ReadFull(c.r, topic); err != nil {
			return err
		}
		if qos == 1 {
			// Acknowledged before the payload is read: a chunk lost
			// after it is asked for again.
			var id [2]byte
			if _, err := io.ReadFull(c.r, id[:]); err != nil {
				return err
			}
			ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
			ack.MessageID = binary.BigEndian.Uint16(id[:])
			c.wmu.Lock()
			err := ack.Write(c.conn)
			c.wmu.Unlock()
			if err != nil {
				return err
			}
		}
		buf := buffer(string(topic), size)
		if buf == nil {
			if _, err := c.r.Discard(size); err != nil {
				return err
			}
			continue
		}
		if _, err := io.ReadFull(c.r, buf[:size]); err != nil {
			return err
		}
		c.got.Add(1)
		got(buf[:size])
	}
}
