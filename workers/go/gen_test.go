package sagaworker

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates sagapb/saga.pb.go and the barrier SQL
// copy (gen.sh) into a temporary directory and compares them with the
// committed files: a change to schema/saga.proto or schema/barrier/ must be
// followed by `make go-gen`.
func TestGeneratedUpToDate(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc not found: run `make deps` (protobuf-compiler)")
	}
	dir := t.TempDir()
	out, err := exec.Command("sh", "gen.sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*"))
	if err != nil || len(files) < 2 {
		t.Fatalf("gen.sh produced %v (%v)", files, err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(rel)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run `make go-gen` and commit the result", rel)
		}
	}
}
