package partition

// A task's open files. DuckDB opens a scan's first file when it binds the
// scan and keeps it open until the statement ends, and reads a list of
// files (read_parquet([...])) opening each in turn: a UNION ALL of one
// read_parquet a file holds every file of the union open for the whole
// task, a list about one a DuckDB thread (DuckDB 1.5.5, /proc/self/fd
// sampled while one connection read 750 files of three rows: 756
// descriptors as 750 read_parquet in a UNION ALL, 9 to 12 as one list,
// 71 as 63 lists of 12). A task of whole files (Coalesce, SplitGroups)
// therefore reads them as at most Env.TaskOpenFiles branches, each a run
// of consecutive files; a task of no more files reads each as a branch
// of its own, as it was measured fastest.

// DefaultTaskOpenFiles is Env.TaskOpenFiles' default: 32 branches hold
// about 40 descriptors a task, an executor of 8 threads about 330 for
// its tasks at once, a third of the common ulimit -n of 1024; a run of
// tiny files read as one list was as fast as the files read apart.
const DefaultTaskOpenFiles = 32

// openFiles is TaskOpenFiles with its default; 0: no bound.
func (e Env) openFiles() int {
	switch {
	case e.TaskOpenFiles == 0:
		return DefaultTaskOpenFiles
	case e.TaskOpenFiles < 0:
		return 0
	}
	return e.TaskOpenFiles
}

// fileRuns cuts a task's files into at most n runs of consecutive files,
// of sizes that differ by one at most; n <= 0 or no more files than n:
// a run a file.
func fileRuns(files []Node, n int) [][]Node {
	if n <= 0 || len(files) <= n {
		n = len(files)
	}
	out := make([][]Node, 0, n)
	for i, at := 0, 0; i < n; i++ {
		size := (len(files) - at) / (n - i)
		out = append(out, files[at:at+size])
		at += size
	}
	return out
}
