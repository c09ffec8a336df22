using System.Globalization;
using System.Text;

namespace BuildFarm.Messaging.Signing;

/// <summary>
/// Builds the text a message signature covers: a kind prefix, then each field as <c>length:value;</c> (length in
/// UTF-16 code units) or <c>~;</c> for null, lists as their count then their items. Every field is delimited by its
/// length, so no choice of field values can make two different messages share a text; numbers and times are written
/// invariantly (times as UTC ticks, doubles round-trip), so the text survives the JSON round trip exactly.
/// </summary>
internal sealed class CanonicalText
{
    private readonly StringBuilder _text = new();

    public CanonicalText(string kind) => _text.Append("buildfarm-message;").Append(kind).Append(';');

    public CanonicalText Add(string? value)
    {
        if (value is null)
            _text.Append("~;");
        else
            _text.Append(value.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(value).Append(';');
        return this;
    }

    public CanonicalText Add(long value) => Add(value.ToString(CultureInfo.InvariantCulture));

    public CanonicalText Add(long? value) => Add(value?.ToString(CultureInfo.InvariantCulture));

    public CanonicalText Add(bool value) => Add(value ? "1" : "0");

    public CanonicalText Add(double value) => Add(value.ToString("R", CultureInfo.InvariantCulture));

    public CanonicalText Add(Guid value) => Add(value.ToString("D"));

    /// <summary>A field added after version 2: written only when set, so an older sender's text is unchanged.</summary>
    public CanonicalText AddIfSet(Guid? value) => value is { } v ? Add(v) : this;

    public CanonicalText Add(DateTimeOffset value) => Add(value.UtcTicks);

    public CanonicalText Add(DateTimeOffset? value) => Add(value?.UtcTicks);

    public CanonicalText Add(TimeSpan value) => Add(value.Ticks);

    public CanonicalText AddList<T>(IReadOnlyList<T>? items, Action<CanonicalText, T> add)
    {
        if (items is null)
            return Add((string?)null);
        Add(items.Count);
        foreach (var item in items)
            add(this, item);
        return this;
    }

    public CanonicalText AddList(IReadOnlyList<string>? items) => AddList(items, (t, s) => t.Add(s));

    public override string ToString() => _text.ToString();
}
