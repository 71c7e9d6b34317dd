namespace RunsReplication.Pipeline;

/// <summary>What this instance is doing, as <c>/status</c> reports it.</summary>
public enum ReplicationRole { Starting, Follower, Leader, Stopping }
