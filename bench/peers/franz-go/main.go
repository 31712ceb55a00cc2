// Benchmark peer: franz-go (github.com/twmb/franz-go/pkg/kgo), a pure-Go Kafka client.
//
//	bench-peer-franz-go BOOTSTRAP TOPIC GROUP PARTITIONS
//
// Joins consumer group GROUP on TOPIC from the start (ConsumeResetOffset AtStart), with
// read_committed; everything else is kgo's defaults (autocommit on). Touches every record (adds
// the value length). kgo has no partition-EOF event, so it keeps control records
// (KeepControlRecords): every partition's last offset is then a record or a transaction marker
// that the client hands out, and a partition is at its end once it delivered the offset just
// below the last stable offset reported by the same fetch. Control records are not counted.
// Prints one JSON line (the bench protocol, see bench/README.md); exits 1 on an error or a 60 s
// stall, 2 on bad arguments.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const stall = 60 * time.Second

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: bench-peer-franz-go BOOTSTRAP TOPIC GROUP PARTITIONS")
		os.Exit(2)
	}
	bootstrap, topic, group := os.Args[1], os.Args[2], os.Args[3]
	partitions, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, "PARTITIONS must be a number")
		os.Exit(2)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-peer-franz-go:", err)
		os.Exit(1)
	}
	var messages, valueBytes int64
	// Time and count at the last 256th record (no clock read per record).
	var firstNs, sampleNs, sampleMessages int64
	done := map[int32]bool{}
	for len(done) < partitions {
		ctx, cancel := context.WithTimeout(context.Background(), stall)
		fetches := cl.PollFetches(ctx)
		cancel()
		if fetches.IsClientClosed() {
			fmt.Fprintln(os.Stderr, "bench-peer-franz-go: client closed")
			os.Exit(1)
		}
		for _, e := range fetches.Errors() {
			fmt.Fprintf(os.Stderr, "bench-peer-franz-go: %s/%d: %v\n", e.Topic, e.Partition, e.Err)
			os.Exit(1)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if !r.Attrs.IsControl() {
					if firstNs == 0 {
						firstNs = time.Now().UnixNano()
					}
					messages++
					valueBytes += int64(len(r.Value))
					if messages%256 == 0 {
						sampleNs, sampleMessages = time.Now().UnixNano(), messages
					}
				}
				if r.Offset+1 >= p.LastStableOffset {
					done[p.Partition] = true
				}
			}
		})
	}
	end := time.Now().UnixNano()
	cl.Close() // commits and leaves the group
	first := "null"
	if firstNs != 0 {
		first = strconv.FormatInt(firstNs, 10)
	}
	version := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/twmb/franz-go" {
				version = d.Version
			}
		}
	}
	fmt.Printf("{\"client\":\"franz-go\",\"version\":\"%s %s\",\"messages\":%d,\"value_bytes\":%d,\"partitions_eof\":%d,\"first_record_unix_ns\":%s,\"sample_unix_ns\":%d,\"sample_messages\":%d,\"end_unix_ns\":%d}\n",
		version, runtime.Version(), messages, valueBytes, len(done), first, sampleNs, sampleMessages, end)
}
