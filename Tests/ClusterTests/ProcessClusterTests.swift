import Testing

/// Every suite here starts real `podium` processes (clusters of them): nested under this one, they run one test
/// at a time, so clusters do not compete for the cores and miss each other's deadlines.
@Suite(.serialized) struct ProcessClusterTests {}
