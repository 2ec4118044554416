"""The command line: ``main`` (the one error boundary and the parser), one module per verb
group, shared options, completion and progress. Nothing outside this package imports it."""
