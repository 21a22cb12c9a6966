package limits

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkHandler is a stand-in for the gateway: it decodes a GraphQL request
// and answers with the Check report or the limit error.
func checkHandler(c *Checker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query         string         `json:"query"`
			OperationName string         `json:"operationName"`
			Variables     map[string]any `json:"variables"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return
		}
		rep, err := c.Check(req.Query, req.OperationName, req.Variables)
		var le *LimitError
		if errors.As(err, &le) {
			writeError(w, http.StatusOK, le.Code, le.Msg)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": rep})
	})
}

type gqlResponse struct {
	Data   *Report `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

func post(t *testing.T, url string, body io.Reader, contentLength int64) (int, gqlResponse, time.Duration) {
	t.Helper()
	status, out, el, err := tryPost(url, body, contentLength)
	if err != nil {
		t.Fatal(err)
	}
	return status, out, el
}

// tryPost is post for goroutines other than the test's.
func tryPost(url string, body io.Reader, contentLength int64) (int, gqlResponse, time.Duration, error) {
	var out gqlResponse
	req, err := http.NewRequest("POST", url, body)
	if err != nil {
		return 0, out, 0, err
	}
	req.ContentLength = contentLength
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, out, 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, out, 0, err
	}
	return resp.StatusCode, out, time.Since(start), nil
}

func graphqlBody(q string, vars map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	return b
}

// TestBodyLimitOverHTTP sends the acceptance's 10 MB body to a real server,
// with and without a Content-Length, alongside normal queries.
func TestBodyLimitOverHTTP(t *testing.T) {
	c := newChecker(t, Default())
	srv := httptest.NewServer(LimitBody(checkHandler(c), Default().MaxBodyBytes))
	defer srv.Close()

	huge := bytes.Repeat([]byte("x"), 10<<20)
	copy(huge, `{"query":"`)

	t.Run("declared length", func(t *testing.T) {
		status, out, el := post(t, srv.URL, bytes.NewReader(huge), int64(len(huge)))
		t.Logf("10 MB body with Content-Length: %d %+v in %v", status, out.Errors, el)
		if status != http.StatusRequestEntityTooLarge || len(out.Errors) != 1 || out.Errors[0].Extensions.Code != CodeBodyTooLarge ||
			out.Errors[0].Message != "request body exceeds the limit of 262144 bytes" {
			t.Errorf("got %d %+v", status, out)
		}
		if el > quick {
			t.Errorf("took %v", el)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		status, out, el := post(t, srv.URL, io.MultiReader(bytes.NewReader(huge)), -1)
		t.Logf("10 MB chunked body: %d %+v in %v", status, out.Errors, el)
		if status != http.StatusRequestEntityTooLarge || len(out.Errors) != 1 || out.Errors[0].Extensions.Code != CodeBodyTooLarge {
			t.Errorf("got %d %+v", status, out)
		}
		if el > quick {
			t.Errorf("took %v", el)
		}
	})
	t.Run("normal query passes through", func(t *testing.T) {
		status, out, el := post(t, srv.URL, bytes.NewReader(graphqlBody(recordsQuery, nil)), -1)
		t.Logf("normal query: %d %+v in %v", status, out.Data, el)
		if status != 200 || out.Data == nil || out.Data.Cost != 505 {
			t.Errorf("got %d %+v", status, out)
		}
	})
	t.Run("abuse and normal queries together", func(t *testing.T) {
		abuse := [][]byte{
			huge,
			graphqlBody(nest("a", "b", 200), nil),
			graphqlBody("{"+strings.Repeat(" a: __typename", 10_000)+"}", nil),
			graphqlBody(fanOut(100, "checkpoint { size }"), nil),
			graphqlBody(`query($n: Int) { a: records(department: "a", type: "b", first: $n) { edges { node { ...F } } } b: person(citizenId: "x") { departments { records { ...F } } } } fragment F on Record { fields { name value disclosure digest redacted } }`, map[string]any{"n": 100}),
		}
		wantCode := []string{CodeBodyTooLarge, CodeTooDeep, CodeQueryTooLarge, CodeTooManyFields, CodeTooCostly}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range abuse {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					_, out, el, err := tryPost(srv.URL, bytes.NewReader(abuse[i]), int64(len(abuse[i])))
					if err != nil {
						t.Errorf("abuse %d: %v", i, err)
						return
					}
					if len(out.Errors) != 1 || out.Errors[0].Extensions.Code != wantCode[i] {
						t.Errorf("abuse %d: got %+v, want %s", i, out, wantCode[i])
						return
					}
					if n == 0 {
						t.Logf("abuse %s rejected over HTTP in %v: %s", wantCode[i], el, out.Errors[0].Message)
					}
					if el > quick {
						t.Errorf("abuse %d took %v", i, el)
					}
				}
			}()
		}
		var worst time.Duration
		for range 50 {
			status, out, el := post(t, srv.URL, bytes.NewReader(graphqlBody(personQuery, map[string]any{"c": "x"})), -1)
			if status != 200 || out.Data == nil || out.Data.Cost != 6223 {
				t.Fatalf("normal query under abuse: %d %+v", status, out)
			}
			worst = max(worst, el)
		}
		close(stop)
		wg.Wait()
		t.Logf("slowest of 50 normal queries over HTTP under abuse: %v", worst)
		if worst > quick {
			t.Errorf("normal query took %v under abuse", worst)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestLimitBodyReadsAtMostMaxPlusOne(t *testing.T) {
	const limit = 1000
	for _, size := range []int{0, 1, limit - 1, limit, limit + 1, 10 << 20} {
		cr := &countingReader{r: strings.NewReader(strings.Repeat("y", size))}
		req := httptest.NewRequest("POST", "/", cr)
		req.ContentLength = -1 // unknown, as with chunked encoding
		var got []byte
		called := false
		h := LimitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			got, _ = io.ReadAll(r.Body)
			if r.ContentLength != int64(len(got)) {
				t.Errorf("size %d: ContentLength %d, body %d", size, r.ContentLength, len(got))
			}
		}), limit)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if cr.n > limit+1 {
			t.Errorf("size %d: read %d bytes, want ≤ %d", size, cr.n, limit+1)
		}
		if size > limit {
			if called || rec.Code != http.StatusRequestEntityTooLarge || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("size %d: called=%v code=%d", size, called, rec.Code)
			}
			want := `{"errors":[{"message":"request body exceeds the limit of 1000 bytes","extensions":{"code":"BODY_TOO_LARGE"}}]}`
			if rec.Body.String() != want {
				t.Errorf("size %d: body %s, want %s", size, rec.Body, want)
			}
		} else if !called || len(got) != size {
			t.Errorf("size %d: called=%v, handler read %d bytes", size, called, len(got))
		}
	}
	// A declared Content-Length over the limit is refused unread.
	cr := &countingReader{r: strings.NewReader(strings.Repeat("y", 5000))}
	req := httptest.NewRequest("POST", "/", cr)
	req.ContentLength = 5000
	rec := httptest.NewRecorder()
	LimitBody(http.NotFoundHandler(), limit).ServeHTTP(rec, req)
	if cr.n != 0 || rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared 5000: read %d, code %d", cr.n, rec.Code)
	}
}
