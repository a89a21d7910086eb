package scripts

import (
	"io"
	"net/http"
	"regexp"
	"time"
)

func get(url string) (string, int, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

func matches(re, s string) bool {
	ok, err := regexp.MatchString(re, s)
	return err == nil && ok
}
