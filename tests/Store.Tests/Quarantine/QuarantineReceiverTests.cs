using System.Text;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Quarantine;

/// <summary>quarantine-serve's loop over in-memory streams written with the worker's own framing classes.</summary>
public sealed class QuarantineReceiverTests : IDisposable
{
    private readonly TempDirectory _dir = new("quarantine-serve");
    private readonly OutputQuarantine _quarantine;

    public QuarantineReceiverTests()
    {
        _quarantine = new OutputQuarantine(StoreLayout.Create("/nix/store", _dir.Combine("origin")));
    }

    [Fact]
    public async Task Serve_TwoUploadsOnOneStream_BothStoredAndAcknowledgedInOrder()
    {
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        var big = new byte[3 * QuarantineProtocol.MaxChunk + 17];
        Random.Shared.NextBytes(big);
        var input = new MemoryStream();
        await WriteUploadAsync(input, a, 1, big);
        await WriteUploadAsync(input, b, 2, "small archive"u8.ToArray());
        input.Position = 0;
        var output = new MemoryStream();

        var error = await QuarantineReceiver.ServeAsync(_quarantine, input, output, long.MaxValue, CancellationToken.None);

        Assert.Null(error);
        Assert.Equal($"ok {big.Length}\nok 13\n", Encoding.ASCII.GetString(output.ToArray()));
        Assert.Equal(big, await File.ReadAllBytesAsync(_quarantine.FileFor(a, 1)));
        Assert.Equal("small archive", await File.ReadAllTextAsync(_quarantine.FileFor(b, 2)));
        Assert.Equal(0, QuarantineProtocol.ParseReply("ok 0"));
    }

    [Theory]
    [InlineData("get 00000000-0000-0000-0000-000000000001 1\n0\n", "expected 'put <build-guid> <attempt>'")]
    [InlineData("put not-a-guid 1\n0\n", "is not a build id")]
    [InlineData("put 00000000-0000-0000-0000-000000000001 0\n0\n", "is not an attempt number")]
    [InlineData("put 00000000-0000-0000-0000-000000000001 1\n5\nabc", "input ended inside a chunk")]
    [InlineData("put 00000000-0000-0000-0000-000000000001 1\n3\nabc", "input ended before the upload's terminating")]
    [InlineData("put 00000000-0000-0000-0000-000000000001 1\n99999999\n", "is not a chunk length")]
    [InlineData("put 00000000-0000-0000-0000-000000000001 1\n0\n", "the upload was empty")]
    public async Task Serve_MalformedUpload_ErrorReplyAndNoFileLeft(string stream, string expected)
    {
        var output = new MemoryStream();

        var error = await QuarantineReceiver.ServeAsync(_quarantine, new MemoryStream(Encoding.ASCII.GetBytes(stream)), output, long.MaxValue, CancellationToken.None);

        Assert.NotNull(error);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        var reply = Encoding.UTF8.GetString(output.ToArray());
        Assert.StartsWith("error ", reply, StringComparison.Ordinal);
        Assert.Throws<QuarantineRefusedException>(() => QuarantineProtocol.ParseReply(reply.TrimEnd('\n')));
        Assert.Empty(Directory.Exists(_quarantine.Directory) ? Directory.GetFiles(_quarantine.Directory) : []);
    }

    [Fact]
    public async Task Serve_UploadOverLimit_RefusedWithoutFileAndStops()
    {
        var input = new MemoryStream();
        await WriteUploadAsync(input, Guid.NewGuid(), 1, new byte[1000]);
        await WriteUploadAsync(input, Guid.NewGuid(), 1, new byte[10]);
        input.Position = 0;
        var output = new MemoryStream();

        var error = await QuarantineReceiver.ServeAsync(_quarantine, input, output, 100, CancellationToken.None);

        Assert.Contains("exceed the quarantine limit of 100 bytes", error, StringComparison.Ordinal);
        Assert.Equal(1, Encoding.ASCII.GetString(output.ToArray()).Count(c => c == '\n'));
        Assert.Empty(Directory.GetFiles(_quarantine.Directory));
    }

    private static async Task WriteUploadAsync(Stream output, Guid build, int attempt, byte[] body)
    {
        await output.WriteAsync(QuarantineProtocol.PutLine(build, attempt));
        var chunked = new ChunkedWriteStream(output);
        await chunked.WriteAsync(body);
        await chunked.CompleteAsync(CancellationToken.None);
    }

    public void Dispose() => _dir.Dispose();
}
