using System.Text.Json.Nodes;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.NixDb;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;
using Microsoft.Data.Sqlite;

namespace BuildFarm.Store.Tests.NixDb;

/// <summary>Direct registration in Nix's database against Nix 2.8's own <c>nix-store --register-validity</c> as the oracle.</summary>
public sealed class NixRegistrationTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task RegisterAsync_PathWithDeriverSelfReferenceSignaturesAndCa_SameRowsAndPathInfoAsNixStoreRegisterValidity()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        var db = nix.Store.DatabasePath;
        var direct = await WriteEntryAsync(nix, "direct");
        var oracle = await WriteEntryAsync(nix, "oracle");
        var directInfo = Info(nix, direct, seed);
        var oracleInfo = Info(nix, oracle, seed);

        await NixRegistration.RegisterAsync(db, [directInfo], DateTimeOffset.UtcNow, None);
        (await ProcessRunner.RunAsync("nix-store", ["--store", nix.Uri, "--register-validity", "--hash-given"], System.Text.Encoding.UTF8.GetBytes(NixStore.RegistrationInput([oracleInfo]))))
            .EnsureSuccess("nix-store --register-validity");
        await NixSignatureWriter.AddAsync(db, new Dictionary<StorePath, IReadOnlyList<string>> { [oracle] = oracleInfo.Signatures }, None);
        await NixSignatureWriter.SetContentAddressesAsync(db, new Dictionary<StorePath, string> { [oracle] = oracleInfo.ContentAddress! }, None);

        Assert.Equal(await RowAsync(db, oracle), await RowAsync(db, direct));
        Assert.Equal(await PathInfoAsync(nix, oracle), await PathInfoAsync(nix, direct));
        var info = await nix.Store.GetPathInfoAsync(direct, None);
        Assert.Equal(new[] { seed, direct }.Order(StorePath.Ordinal), info.References.Order(StorePath.Ordinal));
        Assert.Equal(directInfo.Signatures, info.Signatures);
    }

    [Fact]
    public async Task RegisterAsync_ReferenceNeitherValidNorInTheBatch_NothingRegistered()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        var first = await WriteEntryAsync(nix, "first");
        var second = await WriteEntryAsync(nix, "second");
        var missing = StorePath.FromDigest(nix.Layout.StoreDir, new string('1', 32), "missing");

        var e = await Assert.ThrowsAsync<StoreException>(() => NixRegistration.RegisterAsync(nix.Store.DatabasePath,
            [Info(nix, first, seed), Info(nix, second, seed) with { References = [missing] }], DateTimeOffset.UtcNow, None));

        Assert.Contains("missing", e.Message, StringComparison.Ordinal);
        Assert.False(await nix.Store.IsValidAsync(first, None));
        Assert.False(await nix.Store.IsValidAsync(second, None));
    }

    [Fact]
    public async Task CanRegister_OtherSchemaOrADerivation_False()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        var db = nix.Store.DatabasePath;
        var info = Info(nix, seed, seed);
        var drv = info with { Path = StorePath.FromDigest(nix.Layout.StoreDir, new string('2', 32), "x.drv") };

        Assert.True(NixRegistration.CanRegister(db, [info]));
        Assert.False(NixRegistration.CanRegister(db, [info, drv]));
        await File.WriteAllTextAsync(Path.Combine(Path.GetDirectoryName(db)!, "schema"), "11");
        Assert.False(NixRegistration.CanRegister(db, [info]));
    }

    private static async Task<StorePath> WriteEntryAsync(NixTestStore nix, string name)
    {
        var digest = new string(Enumerable.Range(0, 32).Select(_ => Nix32Alphabet[Random.Shared.Next(Nix32Alphabet.Length)]).ToArray());
        var path = StorePath.FromDigest(nix.Layout.StoreDir, digest, "reg-" + name);
        await File.WriteAllTextAsync(nix.Store.PhysicalPath(path), "registered " + Guid.NewGuid() + "\n");
        File.SetUnixFileMode(nix.Store.PhysicalPath(path), UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.SetLastWriteTimeUtc(nix.Store.PhysicalPath(path), DateTime.UnixEpoch.AddSeconds(1));
        return path;
    }

    private const string Nix32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

    private static ValidPathInfo Info(NixTestStore nix, StorePath path, StorePath seed) =>
        new(path, NixHash.Sha256("nar of the same shape"), 4242, [seed, path], StorePath.FromDigest(nix.Layout.StoreDir, new string('3', 32), "reg.drv"),
            ["worker-1:c2lnbmF0dXJlLW9uZQ==", "worker-2:c2lnbmF0dXJlLXR3bw=="], DateTimeOffset.UnixEpoch)
        {
            ContentAddress = "fixed:r:sha256:" + NixHash.Sha256("content").ToNix32(),
        };

    /// <summary>The row and its references, with the path itself written as SELF so two paths' rows compare.</summary>
    private static async Task<string> RowAsync(string db, StorePath path)
    {
        await using var connection = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync(None);
        await using var query = connection.CreateCommand();
        query.CommandText = """
            SELECT quote(v.hash) || ' ' || quote(v.deriver) || ' ' || quote(v.narSize) || ' ' || quote(v.ultimate) || ' ' || quote(v.sigs) || ' ' || quote(v.ca)
                   || ' ' || typeof(v.registrationTime) || ' refs:' || coalesce((SELECT group_concat(p, ',') FROM (SELECT r.path AS p FROM Refs f JOIN ValidPaths r ON r.id = f.reference WHERE f.referrer = v.id ORDER BY r.path)), '')
            FROM ValidPaths v WHERE v.path = $p
            """;
        query.Parameters.AddWithValue("$p", path.FullPath);
        return ((string)(await query.ExecuteScalarAsync(None))!).Replace(path.FullPath, "SELF", StringComparison.Ordinal);
    }

    private static async Task<string> PathInfoAsync(NixTestStore nix, StorePath path)
    {
        var json = (await nix.NixAsync("nix", "path-info", "--json", "--sigs", path.FullPath)).EnsureSuccess("nix path-info --json").Stdout;
        var node = JsonNode.Parse(json)!.AsArray()[0]!.AsObject();
        node.Remove("registrationTime");
        return node.ToJsonString().Replace(path.FullPath, "SELF", StringComparison.Ordinal);
    }
}
