namespace BuildFarm.Testing;

/// <summary>The real Nix (Debian's nix-bin), our reference implementation for every format.</summary>
public static class NixOracle
{
    public static async Task<string> RunTextAsync(string program, params string[] args)
    {
        var result = await ProcessRunner.RunAsync(program, args);
        result.EnsureSuccess($"{program} {string.Join(' ', args)}");
        return result.Stdout.Trim();
    }

    public static async Task<byte[]> RunBytesAsync(string program, params string[] args)
    {
        var result = await ProcessRunner.RunAsync(program, args);
        result.EnsureSuccess($"{program} {string.Join(' ', args)}");
        return result.StdoutBytes;
    }

    /// <summary><c>nix-store --dump PATH</c>.</summary>
    public static Task<byte[]> DumpAsync(string path) => RunBytesAsync("nix-store", "--dump", path);

    /// <summary><c>nix-hash --type sha256 --base32 PATH</c>.</summary>
    public static Task<string> HashPathAsync(string path) => RunTextAsync("nix-hash", "--type", "sha256", "--base32", path);
}
