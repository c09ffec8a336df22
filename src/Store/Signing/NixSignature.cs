namespace BuildFarm.Store.Signing;

/// <summary>A detached Ed25519 signature as Nix writes it in narinfo and <c>path-info</c>: <c>keyname:base64(64 bytes)</c>.</summary>
public sealed record NixSignature(string KeyName, ReadOnlyMemory<byte> Bytes)
{
    public const int Length = 64;

    public static bool TryParse(string text, out NixSignature? signature, out string? error)
    {
        signature = null;
        if (!KeyText.TryParse(text, "signature", Length, out var name, out var bytes, out error))
            return false;
        signature = new NixSignature(name, bytes);
        return true;
    }

    public static NixSignature Parse(string text) =>
        TryParse(text, out var signature, out var error) ? signature! : throw new FormatException(error);

    public override string ToString() => KeyText.Format(KeyName, Bytes.Span);
}
