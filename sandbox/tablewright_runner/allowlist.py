"""The names scripts may use from each module they may import.

A script reaches a module only through a proxy (policy.ModuleProxy) that
hands out the names listed here and nothing else. The lists were drafted
from the pinned versions (pandas 3.1.1, numpy 2.4.6, CPython 3.11's
standard library: every public name of each module) and reviewed by hand;
each name left out is in REFUSED with the reason, so that a refusal says
why, and tests/runner/test_runner_policy_allowlist.py checks that every
public name of the installed versions is either allowed or refused (a new
pin shows up there, name by name).

A name whose value is a module is allowed only when that module is itself
in ALLOWED (a reachable submodule: np.random, pd.offsets, ...); anything
else that is a module is refused wherever it is reached.

completions() gives the allowed names for editors (the web UI's
completions).
"""

from __future__ import annotations


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The modules `import` may name, as the script writes them.
IMPORTABLE = (
    "datetime",
    "decimal",
    "math",
    "numpy",
    "pandas",
    "re",
    "statistics",
)
# Submodules that may also be imported by their dotted name
# (`import numpy.linalg`, `from numpy.random import default_rng`): each is
# reached through attributes of an importable module too.
IMPORTABLE_SUBMODULES = (
    "numpy.random",
    "numpy.linalg",
    "numpy.fft",
    "numpy.ma",
    "numpy.polynomial",
    "numpy.strings",
    "numpy.char",
    "numpy.dtypes",
    "numpy.exceptions",
    "pandas.arrays",
    "pandas.errors",
    "pandas.api",
    "pandas.api.types",
    "pandas.api.indexers",
    "pandas.tseries.offsets",
)

# --- reasons, by family --------------------------------------------------------------

FILES = "it reads or writes files, URLs, the clipboard or a database"
PICKLE = "it unpickles or pickles (running code named in the data)"
OPTIONS = "it changes process-wide options (plotting.backend names a module to import)"
INTROSPECTION = "it inspects or reports on the installation (imports and reads the system)"
INTERPRETER = "it evaluates a string as code, reaching any object by name"
FRAMES = "it reads the caller's variables from its frame"
MEMORY = "it reaches raw memory or foreign buffers"
TESTS = "it runs the library's test suite"
HOOKS = "it installs a process-wide hook"
MODULE = "it is a module scripts may not use"
DEPRECATED = "it is not part of the public API scripts need"
REGISTRATION = "it registers extensions or accessors process-wide"

# --- pandas ---------------------------------------------------------------------------

PANDAS = _names(
    """
    ArrowDtype BooleanDtype Categorical CategoricalDtype CategoricalIndex DataFrame
    DateOffset DatetimeIndex DatetimeTZDtype Flags Float32Dtype Float64Dtype Grouper
    Index IndexSlice Int16Dtype Int32Dtype Int64Dtype Int8Dtype Interval IntervalDtype
    IntervalIndex MultiIndex NA NaT NamedAgg NamedFunc Period PeriodDtype PeriodIndex
    RangeIndex Series SparseDtype StringDtype Timedelta TimedeltaIndex Timestamp
    UInt16Dtype UInt32Dtype UInt64Dtype UInt8Dtype
    api array arrays bdate_range col concat crosstab cut date_range errors factorize
    from_dummies get_dummies infer_freq interval_range isna isnull json_normalize
    lreshape melt merge merge_asof merge_ordered notna notnull offsets period_range
    pivot pivot_table qcut timedelta_range to_datetime to_numeric to_timedelta unique
    wide_to_long
    """
)
PANDAS_REFUSED = {
    # every reader: files, URLs (fsspec), the clipboard, SQL connections
    **dict.fromkeys(
        """read_clipboard read_csv read_excel read_feather read_fwf read_hdf read_html
        read_iceberg read_json read_orc read_parquet read_sas read_spss read_sql
        read_sql_query read_sql_table read_stata read_table read_xml ExcelFile
        ExcelWriter HDFStore""".split(),
        FILES,
    ),
    "read_pickle": PICKLE,
    "to_pickle": PICKLE,
    # pandas' own interpreter: `@name` reads the caller's frame
    "eval": INTERPRETER,
    **dict.fromkeys(
        """set_option get_option reset_option describe_option option_context options
        set_eng_float_format""".split(),
        OPTIONS,
    ),
    "show_versions": INTROSPECTION,
    "test": TESTS,
    # modules: io (readers/writers), plotting (back-ends by name), testing,
    # core/compat/util/tseries (internals; offsets are pd.offsets)
    **dict.fromkeys("io plotting testing core compat util tseries pandas".split(), MODULE),
    "annotations": DEPRECATED,  # `from __future__ import annotations`' feature object
}

PANDAS_API = _names("types indexers")
PANDAS_API_REFUSED = {
    "extensions": REGISTRATION,  # register_*_accessor, register_extension_dtype
    "interchange": MEMORY,  # from_dataframe: another library's buffers
    "executors": REGISTRATION,  # execution engines by object
    "internals": MODULE,
    "typing": MODULE,
}

PANDAS_API_TYPES = _names(
    """
    CategoricalDtype DatetimeTZDtype IntervalDtype PeriodDtype infer_dtype
    is_any_real_numeric_dtype is_array_like is_bool is_bool_dtype is_categorical_dtype
    is_complex is_complex_dtype is_datetime64_any_dtype is_datetime64_dtype
    is_datetime64_ns_dtype is_datetime64tz_dtype is_dict_like is_dtype_equal
    is_extension_array_dtype is_file_like is_float is_float_dtype is_hashable
    is_int64_dtype is_integer is_integer_dtype is_interval_dtype is_iterator
    is_list_like is_named_tuple is_number is_numeric_dtype is_object_dtype
    is_period_dtype is_re is_re_compilable is_scalar is_signed_integer_dtype is_sparse
    is_string_dtype is_timedelta64_dtype is_timedelta64_ns_dtype
    is_unsigned_integer_dtype pandas_dtype union_categoricals
    """
)
PANDAS_API_INDEXERS = _names(
    "BaseIndexer FixedForwardWindowIndexer VariableOffsetWindowIndexer check_array_indexer"
)

PANDAS_OFFSETS = _names(
    """
    BDay BHalfYearBegin BHalfYearEnd BMonthBegin BMonthEnd BQuarterBegin BQuarterEnd
    BYearBegin BYearEnd BaseOffset BusinessDay BusinessHour BusinessMonthBegin
    BusinessMonthEnd CBMonthBegin CBMonthEnd CDay CustomBusinessDay CustomBusinessHour
    CustomBusinessMonthBegin CustomBusinessMonthEnd DateOffset Day Easter FY5253
    FY5253Quarter HalfYearBegin HalfYearEnd Hour LastWeekOfMonth Micro Milli Minute
    MonthBegin MonthEnd Nano QuarterBegin QuarterEnd Second SemiMonthBegin SemiMonthEnd
    Tick Week WeekOfMonth YearBegin YearEnd
    """
)
PANDAS_OFFSETS_REFUSED = {"annotations": DEPRECATED}

PANDAS_ARRAYS = _names(
    """
    ArrowExtensionArray ArrowStringArray BooleanArray Categorical DatetimeArray
    FloatingArray IntegerArray IntervalArray NumpyExtensionArray PeriodArray SparseArray
    StringArray TimedeltaArray
    """
)

PANDAS_ERRORS = _names(
    """
    AbstractMethodError AttributeConflictWarning CSSWarning CategoricalConversionWarning
    ChainedAssignmentError ClosedFileError DataError DatabaseError DtypeWarning
    DuplicateLabelError EmptyDataError IncompatibilityWarning IncompatibleFrequency
    IndexingError IntCastingNaNError InvalidColumnName InvalidComparison InvalidIndexError
    InvalidVersion LossySetitemError MergeError NoBufferPresent NullFrequencyError
    NumExprClobberingError NumbaUtilError OptionError OutOfBoundsDatetime
    OutOfBoundsTimedelta Pandas4Warning Pandas5Warning PandasChangeWarning
    PandasDeprecationWarning PandasFutureWarning PandasPendingDeprecationWarning
    ParserError ParserWarning PerformanceWarning PossibleDataLossError
    PossiblePrecisionLoss PyperclipException PyperclipWindowsException SpecificationError
    UndefinedVariableError UnsortedIndexError UnsupportedFunctionCall
    ValueLabelTypeMismatch
    """
)
# pandas.errors imports ctypes (for a Windows error class) and abc/cow modules
PANDAS_ERRORS_REFUSED = {
    "ctypes": MEMORY,
    "abc": MODULE,
    "cow": MODULE,
    "annotations": DEPRECATED,
}

# --- numpy ----------------------------------------------------------------------------

NUMPY = _names(
    """
    False_ ScalarType True_ abs absolute acos acosh add all allclose amax amin angle
    any append apply_along_axis apply_over_axes arange arccos arccosh arcsin arcsinh
    arctan arctan2 arctanh argmax argmin argpartition argsort argwhere around array
    array2string array_equal array_equiv array_repr array_split array_str asanyarray
    asarray asarray_chkfinite ascontiguousarray asfortranarray asin asinh asmatrix astype
    atan atan2 atanh atleast_1d atleast_2d atleast_3d average bartlett base_repr
    binary_repr bincount bitwise_and bitwise_count bitwise_invert bitwise_left_shift
    bitwise_not bitwise_or bitwise_right_shift bitwise_xor blackman block bool bool_
    broadcast broadcast_arrays broadcast_shapes broadcast_to busday_count busday_offset
    busdaycalendar byte bytes_ c_ can_cast cbrt cdouble ceil char character choose clip
    clongdouble column_stack common_type complex128 complex256 complex64 complexfloating
    compress concat concatenate conj conjugate convolve copy copysign copyto corrcoef
    correlate cos cosh count_nonzero cov cross csingle cumprod cumsum cumulative_prod
    cumulative_sum datetime64 datetime_as_string datetime_data deg2rad degrees delete
    diag diag_indices diag_indices_from diagflat diagonal diff digitize divide divmod dot
    double dsplit dstack dtype dtypes e ediff1d einsum einsum_path emath empty empty_like
    equal errstate euler_gamma exceptions exp exp2 expand_dims expm1 extract eye fabs fft
    fill_diagonal finfo fix flatiter flatnonzero flexible flip fliplr flipud float128
    float16 float32 float64 float_power floating floor floor_divide fmax fmin fmod
    format_float_positional format_float_scientific frexp frombuffer fromfunction
    fromiter frompyfunc fromstring full full_like gcd generic geomspace geterr gradient
    greater greater_equal half hamming hanning heaviside histogram histogram2d
    histogram_bin_edges histogramdd hsplit hstack hypot i0 identity iinfo imag index_exp
    indices inexact inf inner insert int16 int32 int64 int8 int_ intc integer interp
    intersect1d intp invert is_busday isclose iscomplex iscomplexobj isdtype isfinite
    isfortran isin isinf isnan isnat isneginf isposinf isreal isrealobj isscalar
    issubdtype iterable ix_ kaiser kron lcm ldexp left_shift less less_equal lexsort
    linalg linspace little_endian log log10 log1p log2 logaddexp logaddexp2 logical_and
    logical_not logical_or logical_xor logspace long longdouble longlong ma mask_indices
    matmul matrix matrix_transpose matvec max maximum may_share_memory mean median
    meshgrid mgrid min min_scalar_type minimum mintypecode mod modf moveaxis multiply nan
    nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian nanmin
    nanpercentile nanprod nanquantile nanstd nansum nanvar ndarray ndenumerate ndim
    ndindex nditer negative nested_iters newaxis nextafter nonzero not_equal number
    object_ ogrid ones ones_like outer packbits pad partition percentile permute_dims pi
    piecewise place poly poly1d polyadd polyder polydiv polyfit polyint polymul
    polynomial polysub polyval positive pow power prod promote_types ptp put
    put_along_axis putmask quantile r_ rad2deg radians random ravel ravel_multi_index
    real real_if_close recarray reciprocal record remainder repeat require reshape resize
    result_type right_shift rint roll rollaxis roots rot90 round row_stack s_ searchsorted
    sctypeDict select setdiff1d seterr setxor1d shape shares_memory short sign signbit
    signedinteger sin sinc single sinh size sort sort_complex spacing split sqrt square
    squeeze stack std str_ strings subtract sum swapaxes take take_along_axis tan tanh
    tensordot tile timedelta64 trace transpose trapezoid tri tril tril_indices
    tril_indices_from trim_zeros triu triu_indices triu_indices_from true_divide trunc
    typecodes typename ubyte ufunc uint uint16 uint32 uint64 uint8 uintc uintp ulong
    ulonglong union1d unique unique_all unique_counts unique_inverse unique_values
    unpackbits unravel_index unsignedinteger unstack unwrap ushort vander var vdot vecdot
    vecmat vectorize void vsplit vstack where zeros zeros_like
    """
)
NUMPY_REFUSED = {
    **dict.fromkeys(
        "load save savez savez_compressed savetxt loadtxt genfromtxt fromfile fromregex "
        "memmap".split(),
        FILES,  # np.load also unpickles (allow_pickle=True)
    ),
    # bmat("A,B") and np.r_["A,B"] read names from the caller's frame
    # (np.r_/np.c_ stay: a string key is refused in _getitem_)
    "bmat": FRAMES,
    "from_dlpack": MEMORY,
    "ctypeslib": MEMORY,
    "lib": MODULE,  # lib.format (pickles), lib.npyio, lib.stride_tricks.as_strided (any memory)
    "f2py": MODULE,  # compiles and imports Fortran/C
    "testing": MODULE,
    "typing": MODULE,
    "core": MODULE,  # the deprecated alias of numpy._core
    "rec": FILES,  # rec.fromfile; np.recarray and np.record stay
    **dict.fromkeys(
        "info show_config show_runtime get_include".split(),
        INTROSPECTION,
    ),
    "test": TESTS,
    **dict.fromkeys(
        "set_printoptions get_printoptions printoptions setbufsize getbufsize".split(),
        OPTIONS,
    ),
    "seterrcall": HOOKS,
    "geterrcall": HOOKS,
}

NUMPY_RANDOM = _names(
    """
    BitGenerator Generator MT19937 PCG64 PCG64DXSM Philox RandomState SFC64 SeedSequence
    beta binomial bytes chisquare choice default_rng dirichlet exponential f gamma
    geometric get_state gumbel hypergeometric laplace logistic lognormal logseries
    multinomial multivariate_normal negative_binomial noncentral_chisquare noncentral_f
    normal pareto permutation poisson power rand randint randn random random_integers
    random_sample ranf rayleigh sample seed set_state shuffle standard_cauchy
    standard_exponential standard_gamma standard_normal standard_t triangular uniform
    vonmises wald weibull zipf
    """
)
NUMPY_RANDOM_REFUSED = {
    "bit_generator": MODULE,
    "mtrand": MODULE,
    "get_bit_generator": HOOKS,  # the process-wide generator behind np.random.*
    "set_bit_generator": HOOKS,
    "test": TESTS,
}

NUMPY_LINALG = _names(
    """
    LinAlgError cholesky cond cross det diagonal eig eigh eigvals eigvalsh inv lstsq
    matmul matrix_norm matrix_power matrix_rank matrix_transpose multi_dot norm outer
    pinv qr slogdet solve svd svdvals tensordot tensorinv tensorsolve trace vecdot
    vector_norm
    """
)
NUMPY_FFT = _names(
    """
    fft fft2 fftfreq fftn fftshift hfft ifft ifft2 ifftn ifftshift ihfft irfft irfft2
    irfftn rfft rfft2 rfftfreq rfftn
    """
)
NUMPY_MA = _names(
    """
    MAError MaskError MaskType MaskedArray abs absolute add all allclose allequal alltrue
    amax amin angle anom anomalies any append apply_along_axis apply_over_axes arange
    arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin argsort around
    array asanyarray asarray atleast_1d atleast_2d atleast_3d average bitwise_and
    bitwise_or bitwise_xor bool_ ceil choose clip clump_masked clump_unmasked
    column_stack common_fill_value compress compress_cols compress_nd compress_rowcols
    compress_rows compressed concatenate conjugate convolve copy corrcoef correlate cos
    cosh count count_masked cov cumprod cumsum default_fill_value diag diagflat diagonal
    diff divide dot dstack ediff1d empty empty_like equal exp expand_dims fabs filled
    fix_invalid flatnotmasked_contiguous flatnotmasked_edges flatten_mask
    flatten_structured_array floor floor_divide fmod frombuffer fromflex fromfunction
    getdata getmask getmaskarray greater greater_equal harden_mask hsplit hstack hypot
    identity ids in1d indices inner innerproduct intersect1d isMA isMaskedArray is_mask
    is_masked isarray isin left_shift less less_equal log log10 log2 logical_and
    logical_not logical_or logical_xor make_mask make_mask_descr make_mask_none mask_cols
    mask_or mask_rowcols mask_rows masked masked_all masked_all_like masked_array
    masked_equal masked_greater masked_greater_equal masked_inside masked_invalid
    masked_less masked_less_equal masked_not_equal masked_object masked_outside
    masked_singleton masked_values masked_where max maximum
    maximum_fill_value mean median min minimum minimum_fill_value mod mr_ multiply mvoid
    ndenumerate ndim negative nomask nonzero not_equal notmasked_contiguous
    notmasked_edges ones ones_like outer outerproduct polyfit power prod product ptp put
    putmask ravel remainder repeat reshape resize right_shift round round_ row_stack
    set_fill_value setdiff1d setxor1d shape sin sinh size soften_mask sometrue sort sqrt
    squeeze stack std subtract sum swapaxes take tan tanh trace transpose true_divide
    union1d unique vander var vstack where zeros zeros_like
    """
)
NUMPY_MA_REFUSED = {
    **dict.fromkeys("dump dumps load loads".split(), PICKLE),
    "fromfile": FILES,
    "core": MODULE,
    "extras": MODULE,
    "masked_print_option": OPTIONS,  # process-wide display of masked values
    "test": TESTS,
}

NUMPY_POLYNOMIAL = _names("Chebyshev Hermite HermiteE Laguerre Legendre Polynomial")
NUMPY_POLYNOMIAL_REFUSED = {
    **dict.fromkeys(
        "chebyshev hermite hermite_e laguerre legendre polynomial polyutils".split(), MODULE
    ),
    "set_default_printstyle": OPTIONS,
    "test": TESTS,
}

NUMPY_STRINGS = _names(
    """
    add capitalize center count decode encode endswith equal expandtabs find greater
    greater_equal index isalnum isalpha isdecimal isdigit islower isnumeric isspace
    istitle isupper less less_equal ljust lower lstrip mod multiply not_equal partition
    replace rfind rindex rjust rpartition rstrip slice startswith str_len strip swapcase
    title translate upper zfill
    """
)
NUMPY_CHAR = _names(
    """
    add array asarray capitalize center chararray compare_chararrays count decode encode
    endswith equal expandtabs find greater greater_equal index isalnum isalpha isdecimal
    isdigit islower isnumeric isspace istitle isupper join less less_equal ljust lower
    lstrip mod multiply not_equal partition replace rfind rindex rjust rpartition rsplit
    rstrip split splitlines startswith str_len strip swapcase title translate upper zfill
    """
)
NUMPY_EMATH = _names("arccos arcsin arctanh log log10 log2 logn power sqrt")
NUMPY_DTYPES = _names(
    """
    BoolDType ByteDType BytesDType CLongDoubleDType Complex128DType Complex64DType
    DateTime64DType Float16DType Float32DType Float64DType Int16DType Int32DType
    Int64DType Int8DType IntDType LongDType LongDoubleDType LongLongDType ObjectDType
    ShortDType StrDType StringDType TimeDelta64DType UByteDType UInt16DType UInt32DType
    UInt64DType UInt8DType UIntDType ULongDType ULongLongDType UShortDType VoidDType
    """
)
NUMPY_EXCEPTIONS = _names(
    """
    AxisError ComplexWarning DTypePromotionError ModuleDeprecationWarning RankWarning
    TooHardError VisibleDeprecationWarning
    """
)

# --- the standard library ---------------------------------------------------------------

DATETIME = _names("MAXYEAR MINYEAR UTC date datetime time timedelta timezone tzinfo")
DATETIME_REFUSED = {"sys": MODULE, "datetime_CAPI": MEMORY}  # a capsule of C pointers

MATH = _names(
    """
    acos acosh asin asinh atan atan2 atanh cbrt ceil comb copysign cos cosh degrees dist
    e erf erfc exp exp2 expm1 fabs factorial floor fmod frexp fsum gamma gcd hypot inf
    isclose isfinite isinf isnan isqrt lcm ldexp lgamma log log10 log1p log2 modf nan
    nextafter perm pi pow prod radians remainder sin sinh sqrt tan tanh tau trunc ulp
    """
)

RE = _names(
    """
    A ASCII DOTALL I IGNORECASE L LOCALE M MULTILINE Match NOFLAG Pattern RegexFlag S U
    UNICODE VERBOSE X compile error escape findall finditer fullmatch match purge search
    split sub subn template
    """
)
RE_REFUSED = {
    **dict.fromkeys("copyreg enum functools".split(), MODULE),  # copyreg: pickling hooks
    **dict.fromkeys("DEBUG T TEMPLATE Scanner".split(), DEPRECATED),
}

STATISTICS = _names(
    """
    NormalDist StatisticsError correlation covariance fmean geometric_mean harmonic_mean
    linear_regression mean median median_grouped median_high median_low mode multimode
    pstdev pvariance quantiles stdev variance
    """
)
# statistics' own imports, not its API (math, decimal and fractions are
# there to use directly; sys and random are not)
STATISTICS_REFUSED = {
    **dict.fromkeys("math numbers random sys".split(), MODULE),
    **dict.fromkeys(
        """Counter Decimal Fraction LinearRegression bisect_left bisect_right defaultdict
        erf exp fabs fsum groupby hypot log mul namedtuple reduce repeat sqrt tau""".split(),
        DEPRECATED,
    ),
}

DECIMAL = _names(
    """
    BasicContext Clamped Context ConversionSyntax Decimal DecimalException DecimalTuple
    DefaultContext DivisionByZero DivisionImpossible DivisionUndefined ExtendedContext
    FloatOperation HAVE_CONTEXTVAR HAVE_THREADS Inexact InvalidContext InvalidOperation
    MAX_EMAX MAX_PREC MIN_EMIN MIN_ETINY Overflow ROUND_05UP ROUND_CEILING ROUND_DOWN
    ROUND_FLOOR ROUND_HALF_DOWN ROUND_HALF_EVEN ROUND_HALF_UP ROUND_UP Rounded Subnormal
    Underflow getcontext localcontext setcontext
    """
)

# module name -> (allowed names, refused name -> reason)
MODULES: dict[str, tuple[frozenset[str], dict[str, str]]] = {
    "pandas": (PANDAS, PANDAS_REFUSED),
    "pandas.api": (PANDAS_API, PANDAS_API_REFUSED),
    "pandas.api.types": (PANDAS_API_TYPES, {}),
    "pandas.api.indexers": (PANDAS_API_INDEXERS, {}),
    "pandas.tseries.offsets": (PANDAS_OFFSETS, PANDAS_OFFSETS_REFUSED),
    "pandas.arrays": (PANDAS_ARRAYS, {}),
    "pandas.errors": (PANDAS_ERRORS, PANDAS_ERRORS_REFUSED),
    "numpy": (NUMPY, NUMPY_REFUSED),
    "numpy.random": (NUMPY_RANDOM, NUMPY_RANDOM_REFUSED),
    "numpy.linalg": (NUMPY_LINALG, {"test": TESTS}),
    "numpy.fft": (NUMPY_FFT, {"test": TESTS}),
    "numpy.ma": (NUMPY_MA, NUMPY_MA_REFUSED),
    "numpy.polynomial": (NUMPY_POLYNOMIAL, NUMPY_POLYNOMIAL_REFUSED),
    "numpy.strings": (NUMPY_STRINGS, {}),
    "numpy.char": (NUMPY_CHAR, {}),
    "numpy.lib.scimath": (NUMPY_EMATH, {}),  # np.emath
    "numpy.dtypes": (NUMPY_DTYPES, {}),
    "numpy.exceptions": (NUMPY_EXCEPTIONS, {}),
    "datetime": (DATETIME, DATETIME_REFUSED),
    "math": (MATH, {}),
    "re": (RE, RE_REFUSED),
    "statistics": (STATISTICS, STATISTICS_REFUSED),
    "decimal": (DECIMAL, {}),
}
REACHABLE_MODULES = frozenset(MODULES)

assert set(IMPORTABLE) | set(IMPORTABLE_SUBMODULES) <= REACHABLE_MODULES
for _mod, (_allowed, _refused) in MODULES.items():
    assert not (_allowed & set(_refused)), _mod


def allowed(module: str) -> frozenset[str]:
    """The names scripts may use from a reachable module (empty for any other)."""
    entry = MODULES.get(module)
    return entry[0] if entry else frozenset()


def refusal_reason(module: str, name: str) -> str | None:
    """Why a name of a reachable module is left out, when the list says."""
    entry = MODULES.get(module)
    return entry[1].get(name) if entry else None


def completions(prefixes: tuple[str, ...] = ("pandas", "numpy")) -> dict[str, list[str]]:
    """The allowed names per module, sorted, for an editor's completions:
    {"pandas": [...], "pandas.api.types": [...], "numpy": [...], ...}.
    Standard library only, so the server side can load it by path."""
    return {
        module: sorted(names)
        for module, (names, _) in sorted(MODULES.items())
        if module.partition(".")[0] in prefixes
    }
