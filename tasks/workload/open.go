package workload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// readBuffer is the size of the buffered reader a file is read through.
const readBuffer = 1 << 20

// byteOrderMark is UTF-8's, which some tools write at a file's start.
var byteOrderMark = []byte("\ufeff")

func openRequests(ctx context.Context, s Source) (Reader, Format, error) {
	rc, name, err := Fetch(ctx, s.Path, s.Checksum)
	if err != nil {
		return nil, "", err
	}
	r, f, err := newReader(rc, name, s, rc)
	if err != nil {
		rc.Close()
	}
	return r, f, err
}

func openSessions(ctx context.Context, s Source) (SessionReader, error) {
	rc, name, err := Fetch(ctx, s.Path, s.Checksum)
	if err != nil {
		return nil, err
	}
	r, err := newSessionReader(rc, name, s, rc)
	if err != nil {
		rc.Close()
	}
	return r, err
}

// NewReader reads the requests of a workload from r, which errors call
// name; s gives the format (Auto or "": detected) and the output cap, not
// the path. Close does not close r.
func NewReader(r io.Reader, name string, s Source) (Reader, Format, error) {
	return newReader(r, name, s, nil)
}

// NewSessionReader reads the sessions of a conversation file from r, as
// NewReader reads requests.
func NewSessionReader(r io.Reader, name string, s Source) (SessionReader, error) {
	return newSessionReader(r, name, s, nil)
}

func newReader(r io.Reader, name string, s Source, c io.Closer) (Reader, Format, error) {
	br, f, err := detect(r, name, s.Format)
	if err != nil {
		return nil, "", err
	}
	switch f {
	case JSONL:
		return &jsonlReader{lines: newLines(br, name, c)}, f, nil
	case OpenAIChat:
		return &chatReader{lines: newLines(br, name, c), maxTokens: s.MaxTokens}, f, nil
	case Mooncake:
		return &mooncakeReader{lines: newLines(br, name, c), maxTokens: s.MaxTokens}, f, nil
	case ShareGPT:
		return &shareGPTReader{shareGPTArray: newShareGPTArray(br, name, c), maxTokens: s.MaxTokens}, f, nil
	case Azure:
		t, err := newCSVTrace(br, name, c, azureHeader, azureForm, s.MaxTokens)
		if err != nil {
			return nil, "", err
		}
		return azureReader{t}, f, nil
	case BurstGPT:
		t, err := newCSVTrace(br, name, c, burstGPTHeader, burstGPTForm, s.MaxTokens)
		if err != nil {
			return nil, "", err
		}
		return burstGPTReader{t}, f, nil
	}
	return nil, "", fmt.Errorf("%s: dataset format %q is not one of %v", name, f, formatNames())
}

func newSessionReader(r io.Reader, name string, s Source, c io.Closer) (SessionReader, error) {
	br, f, err := detect(r, name, s.Format)
	if err != nil {
		return nil, err
	}
	switch f {
	case ShareGPT:
		return &shareGPTSessions{shareGPTArray: newShareGPTArray(br, name, c), maxTokens: s.MaxTokens}, nil
	case OpenAIChat:
		return &chatSessions{lines: newLines(br, name, c), maxTokens: s.MaxTokens}, nil
	}
	return nil, fmt.Errorf("%s: sessions need a sharegpt or openai-chat file, and this is %s", name, f)
}

// detect buffers r, past a UTF-8 byte order mark, and returns the format:
// format itself unless it is Auto or "", else Detect's verdict on the
// first DetectBytes.
func detect(r io.Reader, name string, format Format) (*bufio.Reader, Format, error) {
	f, err := ParseFormat(string(format))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	br := bufio.NewReaderSize(r, readBuffer)
	head, err := br.Peek(DetectBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, "", fmt.Errorf("%s: read: %w", name, err)
	}
	if bytes.HasPrefix(head, byteOrderMark) {
		br.Discard(len(byteOrderMark))
		head = head[len(byteOrderMark):]
	}
	if f != Auto {
		return br, f, nil
	}
	if f, err = Detect(head); err != nil {
		return nil, "", fmt.Errorf("%s: cannot tell the format: %w", name, err)
	}
	return br, f, nil
}
