using System.Text;

namespace BuildFarm.Testing;

/// <summary>
/// tests/Worker.Tests/Derivations/contract.nix rendered as bytes: <c>@LATIN1@</c> becomes the raw Latin-1 bytes E9 FF
/// (Nix strings are bytes: such a <c>.drv</c> is valid and must be built unaltered), <c>@IMPURE_HASH@</c> the given hash.
/// </summary>
public static class ContractCorpusSource
{
    public static async Task WriteAsync(string file, string impureHash)
    {
        var source = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "tests", "Worker.Tests", "Derivations", "contract.nix"));
        var parts = source.Replace("@IMPURE_HASH@", impureHash, StringComparison.Ordinal).Split("@LATIN1@");
        var bytes = new List<byte>();
        for (var i = 0; i < parts.Length; i++)
        {
            if (i > 0)
                bytes.AddRange([0xE9, 0xFF]);
            bytes.AddRange(Encoding.ASCII.GetBytes(parts[i]));
        }

        await File.WriteAllBytesAsync(file, [.. bytes]);
    }
}
