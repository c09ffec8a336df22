namespace BuildFarm.Store.Derivations;

/// <summary>
/// A <c>.drv</c> file, derivation JSON or spec that is malformed. <see cref="Offset"/> is the byte offset into
/// the input where parsing failed (-1 when the error is not about one position); the message says what was
/// expected there.
/// </summary>
public sealed class DerivationFormatException : FormatException
{
    public DerivationFormatException(string message, long offset = -1)
        : base(offset >= 0 ? $"at byte {offset}: {message}" : message)
    {
        Offset = offset;
        Reason = message;
    }

    public DerivationFormatException()
        : this("malformed derivation")
    {
    }

    public DerivationFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        Offset = -1;
        Reason = message;
    }

    public long Offset { get; }

    /// <summary>The message without the position prefix.</summary>
    public string Reason { get; }
}
