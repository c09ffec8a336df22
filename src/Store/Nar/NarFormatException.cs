namespace BuildFarm.Store.Nar;

/// <summary>
/// A NAR that is malformed or not canonical. The message names the problem, the byte offset in the stream where the
/// offending token starts and the entry path inside the archive ("/" is the root object).
/// </summary>
public sealed class NarFormatException : Exception
{
    public NarFormatException()
        : base("invalid NAR")
    {
    }

    public NarFormatException(string message)
        : base(message)
    {
    }

    public NarFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NarFormatException(string problem, long offset, string entryPath, Exception? innerException = null)
        : base($"invalid NAR at byte offset {offset} (entry '{entryPath}'): {problem}", innerException)
    {
        Problem = problem;
        Offset = offset;
        EntryPath = entryPath;
    }

    /// <summary>What is wrong, without the location.</summary>
    public string? Problem { get; }

    /// <summary>Byte offset from the start of the NAR where the offending token starts.</summary>
    public long Offset { get; }

    /// <summary>Path of the entry inside the archive, "/" for the root.</summary>
    public string? EntryPath { get; }
}
