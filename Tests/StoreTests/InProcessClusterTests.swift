import Testing

/// Every suite that runs a whole cluster of members in this process (each with its threads, fsyncs and fast
/// clocks) is nested here and runs one test at a time: several at once on a 2-core machine starved each other
/// into elections and missed deadlines.
@Suite(.serialized) struct InProcessClusterTests {}
