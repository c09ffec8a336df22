using BuildFarm.Store.Local;

namespace BuildFarm.Store.Archives;

/// <summary>An archive that cannot be imported: malformed, truncated, unsigned, or not matching its own claims.</summary>
public sealed class ArchiveException : StoreException
{
    public ArchiveException()
    {
    }

    public ArchiveException(string message)
        : base(message)
    {
    }

    public ArchiveException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// True when a path was refused for its signatures (unsigned, or no signature by a trusted key): sending the same
    /// archive again cannot succeed, unlike a truncated or corrupt transfer.
    /// </summary>
    public bool Untrusted { get; init; }
}
