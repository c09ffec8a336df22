using System.CommandLine;

namespace BuildFarm.Cli.Tests;

public sealed class TerminalTextTests
{
    [Fact]
    public void Escape_EscapeSequenceAndBell_ShownAsHex()
    {
        Assert.Equal("path '\\x1b]0;owned\\x07\\x1b[2J' refused", TerminalText.Escape("path '\u001b]0;owned\u0007\u001b[2J' refused"));
    }

    [Fact]
    public void Escape_NewlineTabAndUnicode_Kept()
    {
        const string text = "invalid:\n\tkey 'é' ✓";

        Assert.Same(text, TerminalText.Escape(text));
    }

    [Fact]
    public void Escape_C1AndBidiOverride_ShownAsHex()
    {
        Assert.Equal("a\\x9bb\\x202ec\\x7f", TerminalText.Escape("a\u009bb\u202Ec\u007f"));
    }

    [Fact]
    public async Task RunAsync_ErrorWithEscapeBytes_StderrHasNoRawEscape()
    {
        var command = new RootCommand();
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "test", () => throw new CliError("bad name '\u001b[31mred'")));
        var error = new StringWriter();

        var exit = await command.Parse([]).InvokeAsync(new InvocationConfiguration { Error = error, Output = TextWriter.Null });

        Assert.Equal(1, exit);
        Assert.Equal("buildfarm test: bad name '\\x1b[31mred'" + Environment.NewLine, error.ToString());
    }
}
