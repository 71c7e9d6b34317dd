// These tests start real processes against shared local servers on a 2-core machine: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
