/*
 * test_bcrypt.c - src/auth/bcrypt.c against published vectors and, hash for
 * hash, against libxcrypt (glibc's libcrypt on Debian; link with -lcrypt).
 *
 * The random part of the differential test prints its seed; set
 * TW_TEST_SEED to that number to run the same cases again.
 */
#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>
#include <crypt.h>
#include <sodium.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"

struct vector {
	const char *hash;
	const char *password;
};

/*
 * Openwall's crypt_blowfish 1.3, wrapper.c, tests[] (Solar Designer, public
 * domain), in its order. The "$2x$" entries are hashes of the buggy
 * pre-2011 algorithm, which we refuse (TW_EINVAL); libxcrypt still computes
 * them, which test_vectors_libxcrypt checks.
 */
static const struct vector openwall_vectors[] = {
	{ "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	  "U*U" },
	{ "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
	  "U*U*" },
	{ "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a",
	  "U*U*U" },
	{ "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
	  "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored" },
	{ "$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
	  "\xa3" },
	{ "$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
	  "\xff\xff\xa3" },
	{ "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
	  "\xff\xff\xa3" },
	/* libxcrypt's "$2a$" safety measure at work: not "$2b$"'s result. */
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85.",
	  "\xff\xff\xa3" },
	{ "$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
	  "\xff\xff\xa3" },
	{ "$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq",
	  "\xa3" },
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq",
	  "\xa3" },
	{ "$2b$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq",
	  "\xa3" },
	{ "$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", "1"
									  "\xa3"
									  "34"
									  "5" },
	{ "$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", "\xff"
									  "\xa3"
									  "34"
									  "5" },
	{ "$2x$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", "\xff"
									  "\xa3"
									  "34"
									  "\xff"
									  "\xff"
									  "\xff"
									  "\xa3"
									  "34"
									  "5" },
	{ "$2y$05$/OK.fbVrR/bpIqNJ5ianF.o./n25XVfn6oAPaUvHe.Csk4zRfsYPi", "\xff"
									  "\xa3"
									  "34"
									  "\xff"
									  "\xff"
									  "\xff"
									  "\xa3"
									  "34"
									  "5" },
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.ZC1JEJ8Z4gPfpe1JOr/oyPXTWl9EFd.", "\xff"
									  "\xa3"
									  "34"
									  "\xff"
									  "\xff"
									  "\xff"
									  "\xa3"
									  "34"
									  "5" },
	{ "$2y$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e", "\xff"
									  "\xa3"
									  "34"
									  "5" },
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.nRht2l/HRhr6zmCp9vYUvvsqynflf9e", "\xff"
									  "\xa3"
									  "34"
									  "5" },
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", "\xa3"
									  "a"
									  "b" },
	{ "$2x$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", "\xa3"
									  "a"
									  "b" },
	{ "$2y$05$/OK.fbVrR/bpIqNJ5ianF.6IflQkJytoRVc1yuaNtHfiuq.FRlSIS", "\xa3"
									  "a"
									  "b" },
	{ "$2x$05$6bNw2HLQYeqHYyBfLMsv/OiwqTymGIGzFsA4hOTWebfehXHNprcAS",
	  "\xd1\x91" },
	{ "$2x$05$6bNw2HLQYeqHYyBfLMsv/O9LIGgn8OMzuDoHfof8AQimSGfcSWxnS",
	  "\xd0\xc1\xd2\xcf\xcc\xd8" },
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.swQOIzjOiJ9GHEPuhEkvqrUyvWhEMx6",
	  "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
	  "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
	  "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
	  "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
	  "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
	  "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
	  "chars after 72 are ignored as usual" },
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.R9xrDjiycxMbQE2bp.vgqlYpW5wx2yy",
	  "\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55"
	  "\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55"
	  "\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55"
	  "\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55"
	  "\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55"
	  "\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55\xaa\x55" },
	{ "$2a$05$/OK.fbVrR/bpIqNJ5ianF.9tQZzcJfm3uj2NvJ/n5xkhpqLrMpWCe",
	  "\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff"
	  "\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff"
	  "\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff"
	  "\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff"
	  "\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff"
	  "\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff\x55\xaa\xff" },
	{ "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy", "" },
};

/*
 * jBCrypt's TestBCrypt.java (Damien Miller, 2006; ISC licence), the
 * vectors py-bcrypt and most ports reuse: costs 6 to 12.
 */
static const struct vector jbcrypt_vectors[] = {
	{ "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.", "" },
	{ "$2a$08$HqWuK6/Ng6sg9gQzbLrgb.Tl.ZHfXLhvt/SgVyWhQqgqcZ7ZuUtye", "" },
	{ "$2a$10$k1wbIrmNyFAPwPVPSVa/zecw2BCEnBwVS2GbrmgzxFUOqW9dk4TCW", "" },
	{ "$2a$12$k42ZFHFWqBp3vWli.nIn8uYyIkbvYRvodzbfbK18SSsY.CsIQPlxO", "" },
	{ "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe", "a" },
	{ "$2a$08$cfcvVd2aQ8CMvoMpP2EBfeodLEkkFJ9umNEfPD18.hUF62qqlC/V.", "a" },
	{ "$2a$10$k87L/MF28Q673VKh8/cPi.SUl7MU/rWuSiIDDFayrKk/1tBsSQu4u", "a" },
	{ "$2a$12$8NJH3LsPrANStV6XtBakCez0cKHXVxmvxIlcz785vxAIZrihHZpeS", "a" },
	{ "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
	  "abc" },
	{ "$2a$08$Ro0CUfOqk6cXEKf3dyaM7OhSCvnwM9s4wIX9JeLapehKK5YdLxKcm",
	  "abc" },
	{ "$2a$10$WvvTPHKwdBJ3uk0Z37EMR.hLA2W6N9AEBhEgrAOljy2Ae5MtaSIUi",
	  "abc" },
	{ "$2a$12$EXRkfkdmXn2gzds2SSitu.MW9.gAVqa9eLS1//RYtYCmB1eLHg.9q",
	  "abc" },
	{ "$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC",
	  "abcdefghijklmnopqrstuvwxyz" },
	{ "$2a$08$aTsUwsyowQuzRrDqFflhgekJ8d9/7Z3GV3UcgvzQW3J5zMyrTvlz.",
	  "abcdefghijklmnopqrstuvwxyz" },
	{ "$2a$10$fVH8e28OQRj9tqiDXs1e1uxpsjN0c7II7YPKXua2NAKYvM6iQk7dq",
	  "abcdefghijklmnopqrstuvwxyz" },
	{ "$2a$12$D4G5f18o7aMMfwasBL7GpuQWuP3pkrZrOAnqP.bmezbMng.QwJ/pG",
	  "abcdefghijklmnopqrstuvwxyz" },
	{ "$2a$06$fPIsBO8qRqkjj273rfaOI.HtSV9jLDpTbZn782DC6/t7qT67P6FfO",
	  "~!@#$%^&*()      ~!@#$%^&*()PNBFRD" },
	{ "$2a$08$Eq2r4G/76Wv39MzSX262huzPz612MZiYHVUJe/OcOql2jo4.9UxTW",
	  "~!@#$%^&*()      ~!@#$%^&*()PNBFRD" },
	{ "$2a$10$LgfYWkbzEvQ4JakH7rOvHe0y8pHKF9OaFgwUZ2q7W2FFZmZzJYlfS",
	  "~!@#$%^&*()      ~!@#$%^&*()PNBFRD" },
	{ "$2a$12$WApznUOJfkEGSmYRfnkrPOr466oFDCaj4b6HY3EXGvfxm43seyhgC",
	  "~!@#$%^&*()      ~!@#$%^&*()PNBFRD" },
};

/* pyca/bcrypt's tests/test_bcrypt.py, _test_vectors: "$2b$" at cost 4. */
static const struct vector pyca_vectors[] = {
	{ "$2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
	  "Kk4DQuMMfZL9o" },
	{ "$2b$04$pQ7gRO7e6wx/936oXhNjrOUNOHL1D0h1N2IDbJZYs.1ppzSof6SPy",
	  "9IeRXmnGxMYbs" },
	{ "$2b$04$SQe9knOzepOVKoYXo9xTteNYr6MBwVz4tpriJVe3PNgYufGIsgKcW",
	  "xVQVbwa1S0M8r" },
	{ "$2b$04$eH8zX.q5Q.j2hO1NkVYJQOM6KxntS/ow3.YzVmFrE4t//CoF4fvne",
	  "Zfgr26LWd22Za" },
	{ "$2b$04$ahiTdwRXpUG2JLRcIznxc.s1.ydaPGD372bsGs8NqyYjLY1inG5n2",
	  "Tg4daC27epFBE" },
	{ "$2b$04$nQn78dV0hGHf5wUBe0zOFu8n07ZbWWOKoGasZKRspZxtt.vBRNMIy",
	  "xhQPMmwh5ALzW" },
	{ "$2b$04$cvXudZ5ugTg95W.rOjMITuM1jC0piCl3zF5cmGhzCibHZrNHkmckG",
	  "59je8h5Gj71tg" },
	{ "$2b$04$YYjtiq4Uh88yUsExO0RNTuEJ.tZlsONac16A8OcLHleWFjVawfGvO",
	  "wT4fHJa2N9WSW" },
	{ "$2b$04$WLTjgY/pZSyqX/fbMbJzf.qxCeTMQOzgL.CimRjMHtMxd/VGKojMu",
	  "uSgFRnQdOgm4S" },
	{ "$2b$04$2moPs/x/wnCfeQ5pCheMcuSJQ/KYjOZG780UjA/SiR.KsYWNrC7SG",
	  "tEPtJZXur16Vg" },
};

/*
 * passlib's tests/test_handlers_bcrypt.py: the 72-byte boundary ("abc" * 23
 * is 69 bytes and its NUL is hashed; "abc" * 24 is exactly 72, so its NUL
 * and anything after it are not).
 */
#define ABC8 "abcabcabcabcabcabcabcabc"
static const struct vector passlib_vectors[] = {
	{ "$2a$05$......................J2ihDv8vVf7QZ9BsaRrKyqs2tkn55Yq", "" },
	{ "$2a$05$......................ev6gDwpVye3oMCUpLY85aTpfBNHD0Ga",
	  "abc" },
	{ "$2a$05$......................2kIdfSj/4/R/Q6n847VTvc68BXiRYZC",
	  ABC8 ABC8 "abcabcabcabcabcabcabc" },
	{ "$2a$05$......................XuQjdH.wPVNUZ/bOfstdW/FqB8QSjte",
	  ABC8 ABC8 ABC8 },
	{ "$2a$05$......................XuQjdH.wPVNUZ/bOfstdW/FqB8QSjte",
	  ABC8 ABC8 ABC8 "x" },
};

/* Decodes 22 characters of bcrypt's base64 into 16 bytes (test-only). */
static void decode_salt(const char *s, unsigned char out[16])
{
	static const char alphabet[] =
		"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint32_t acc = 0;
	int bits = 0, n = 0, i;

	for (i = 0; i < 22; i++) {
		const char *p = strchr(alphabet, s[i]);

		assert_non_null(p);
		acc = acc << 6 | (uint32_t)(p - alphabet);
		bits += 6;
		if (bits >= 8 && n < 16) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	assert_int_equal(n, 16);
}

static void check_vector(const struct vector *v, bool refused)
{
	struct buf out = BUF_INIT(128);
	unsigned char salt[16];
	char other[128];
	size_t len = strlen(v->password);
	int cost = (v->hash[4] - '0') * 10 + (v->hash[5] - '0');

	if (refused) {
		assert_int_equal(auth_bcrypt_verify(v->password, v->hash),
				 TW_EINVAL);
		assert_int_equal(auth_bcrypt_cost(v->hash), -1);
		return;
	}
	if (auth_bcrypt_verify(v->password, v->hash) != 0)
		fail_msg("no match: %s", v->hash);
	assert_int_equal(auth_bcrypt_cost(v->hash), cost);

	/* Hashing with the vector's salt gives the vector, byte for byte. */
	decode_salt(v->hash + 7, salt);
	assert_int_equal(auth_bcrypt_hash_salt(v->password, len, cost, salt,
					       v->hash[2], &out, NULL),
			 0);
	assert_string_equal(out.ptr, v->hash);
	buf_release(&out);

	/* Any other password fails. */
	snprintf(other, sizeof(other), "%s", v->password);
	if (len)
		other[0] = (char)(other[0] == 'x' ? 'y' : 'x');
	else
		snprintf(other, sizeof(other), "x");
	assert_int_equal(auth_bcrypt_verify(other, v->hash), TW_EUNAUTH);
}

static void check_vectors(const struct vector *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_vector(&v[i], v[i].hash[2] == 'x');
}

static void test_openwall_vectors(void **state)
{
	(void)state;
	check_vectors(openwall_vectors, TW_ARRAY_SIZE(openwall_vectors));
}

static void test_jbcrypt_vectors(void **state)
{
	(void)state;
	check_vectors(jbcrypt_vectors, TW_ARRAY_SIZE(jbcrypt_vectors));
}

static void test_pyca_passlib_vectors(void **state)
{
	(void)state;
	check_vectors(pyca_vectors, TW_ARRAY_SIZE(pyca_vectors));
	check_vectors(passlib_vectors, TW_ARRAY_SIZE(passlib_vectors));
}

/*
 * passlib's "bsd wraparound bug" vectors: OpenBSD's "$2a$" code kept the
 * length in 8 bits, so a 255-byte password hashed as an empty key.
 * libxcrypt, and therefore we, hash "$2a$" passwords of 254 to 257 bytes
 * as their first 72, like "$2b$".
 */
static void test_2a_no_wraparound(void **state)
{
	static const char hash[] =
		"$2a$04$R1lJ2gkNaoPGdafE.H.16.1MKHPvmKwryeulRe225LKProWYwt9Oi";
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char pw[258];
	size_t n;

	(void)state;
	assert_non_null(cd);
	for (n = 0; n < 257; n++)
		pw[n] = (char)('0' + n % 10);
	for (n = 254; n <= 257; n++) {
		pw[n] = '\0';
		assert_int_equal(auth_bcrypt_verify(pw, hash), 0);
		assert_string_equal(crypt_rn(pw, hash, cd, sizeof(*cd)), hash);
		pw[n] = (char)('0' + n % 10);
	}
	pw[72] = '\0';
	assert_int_equal(auth_bcrypt_verify(pw, hash), 0);
	free(cd);
}

static void test_round_trip(void **state)
{
	struct buf a = BUF_INIT(128), b = BUF_INIT(128);
	size_t i;

	(void)state;
	assert_int_equal(auth_bcrypt_hash("correct horse battery staple", 4, &a,
					  NULL),
			 0);
	assert_int_equal(auth_bcrypt_hash("correct horse battery staple", 4, &b,
					  NULL),
			 0);
	assert_int_equal(a.len, AUTH_BCRYPT_HASH_LEN);
	assert_memory_equal(a.ptr, "$2b$04$", 7);
	/* A fresh salt every time. */
	assert_string_not_equal(a.ptr, b.ptr);
	/* The salt is written canonically: its last character is .Oeu. */
	assert_non_null(strchr(".Oeu", a.ptr[28]));
	for (i = 7; i < a.len; i++)
		assert_non_null(strchr(
			"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
			a.ptr[i]));
	assert_int_equal(auth_bcrypt_cost(a.ptr), 4);
	assert_int_equal(
		auth_bcrypt_verify("correct horse battery staple", a.ptr), 0);
	assert_int_equal(auth_bcrypt_verify("correct horse battery stapl",
					    a.ptr),
			 TW_EUNAUTH);
	assert_int_equal(auth_bcrypt_verify("correct horse battery staple ",
					    a.ptr),
			 TW_EUNAUTH);
	assert_int_equal(auth_bcrypt_verify("", a.ptr), TW_EUNAUTH);
	assert_int_equal(
		auth_bcrypt_verify("correct horse battery staple", b.ptr), 0);
	buf_release(&a);
	buf_release(&b);

	/* Empty password. */
	assert_int_equal(auth_bcrypt_hash("", 4, &a, NULL), 0);
	assert_int_equal(auth_bcrypt_verify("", a.ptr), 0);
	assert_int_equal(auth_bcrypt_verify("\x01", a.ptr), TW_EUNAUTH);
	buf_release(&a);
}

static void test_hash_errors(void **state)
{
	static const unsigned char salt[16] = { 0 };
	struct buf out = BUF_INIT(128), err = BUF_INIT(BUF_SMALL_CAP);
	struct buf tiny = BUF_INIT(59);

	(void)state;
	assert_int_equal(auth_bcrypt_hash("pw", 3, &out, &err), TW_EINVAL);
	assert_string_equal(err.ptr, "bcrypt cost must be between 4 and 31, "
				     "got 3");
	buf_reset(&err);
	assert_int_equal(auth_bcrypt_hash("pw", 32, &out, &err), TW_EINVAL);
	assert_int_equal(auth_bcrypt_hash(NULL, 4, &out, NULL), TW_EINVAL);
	assert_int_equal(auth_bcrypt_hash_salt("pw", 2, 4, salt, 'x', &out,
					       NULL),
			 TW_EINVAL);
	assert_int_equal(auth_bcrypt_hash_salt("pw", 2, 4, salt, '\0', &out,
					       NULL),
			 TW_EINVAL);
	assert_int_equal(auth_bcrypt_hash_salt("p\0w", 3, 4, salt, 'b', &out,
					       NULL),
			 TW_EINVAL);
	assert_int_equal(auth_bcrypt_hash_salt("pw", 2, 4, NULL, 'b', &out,
					       NULL),
			 TW_EINVAL);
	assert_int_equal(out.len, 0);
	/* A NULL password of length 0 is the empty password. */
	assert_int_equal(
		auth_bcrypt_hash_salt(NULL, 0, 4, salt, 'b', &out, NULL), 0);
	assert_int_equal(auth_bcrypt_verify("", out.ptr), 0);
	/* Appends, like every struct buf producer. */
	assert_int_equal(auth_bcrypt_hash_salt("", 0, 4, salt, 'b', &out, NULL),
			 0);
	assert_int_equal(out.len, 2 * AUTH_BCRYPT_HASH_LEN);
	assert_memory_equal(out.ptr, out.ptr + AUTH_BCRYPT_HASH_LEN,
			    AUTH_BCRYPT_HASH_LEN);
	/* No room: TW_ETOOBIG, nothing written. */
	assert_int_equal(auth_bcrypt_hash("pw", 4, &tiny, NULL), TW_ETOOBIG);
	assert_int_equal(tiny.len, 0);
	buf_release(&out);
	buf_release(&err);
	buf_release(&tiny);
}

static void test_malformed(void **state)
{
	/* A valid hash of "U*U", then damaged copies of it. */
	static const char good[] =
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
	static const char *bad[] = {
		"",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n",
		"$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$00$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWx",
		"$2a$ 5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$-5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$0x$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2c$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2z$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2`$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2{$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2A$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWx",
		"$3$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWx",
		"$3a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$1$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWx",
		"x2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a#05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$05#CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$05$CCCCCCCCCC!CCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyu+Gyh0XouQYb4YMJKvyOeW",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe=",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyO_W",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC$E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyO\xc3\xa9",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe\x80",
	};
	size_t i;

	(void)state;
	assert_int_equal(auth_bcrypt_verify("U*U", good), 0);
	for (i = 0; i < TW_ARRAY_SIZE(bad); i++) {
		if (auth_bcrypt_verify("U*U", bad[i]) != TW_EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_int_equal(auth_bcrypt_cost(bad[i]), -1);
	}
	assert_int_equal(auth_bcrypt_verify("U*U", NULL), TW_EINVAL);
	assert_int_equal(auth_bcrypt_verify(NULL, good), TW_EINVAL);
	assert_int_equal(auth_bcrypt_cost(NULL), -1);
	/* An embedded NUL shortens the string: wrong length. */
	assert_int_equal(
		auth_bcrypt_verify(
			"U*U",
			"$2a$05$CCCC\0CCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
		TW_EINVAL);
	assert_int_equal(
		auth_bcrypt_cost(
			"$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
		31);
	assert_int_equal(
		auth_bcrypt_cost(
			"$2y$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
		4);
}

/*
 * The last salt character carries 2 bits; its 4 low bits must be zero.
 * libxcrypt accepts a setting with other bits set but writes the canonical
 * character in its result, so a crypt()-and-compare never matches; so it is
 * here: well-formed (the cost parses) but TW_EUNAUTH. The same goes for the
 * last hash character, whose 2 low bits are unused.
 */
static void test_noncanonical(void **state)
{
	static const char salt_bits[] =
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC/E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
	static const char hash_bits[] =
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeX";
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *r;

	(void)state;
	assert_non_null(cd);
	assert_int_equal(auth_bcrypt_cost(salt_bits), 5);
	assert_int_equal(auth_bcrypt_verify("U*U", salt_bits), TW_EUNAUTH);
	assert_int_equal(auth_bcrypt_verify("U*U", hash_bits), TW_EUNAUTH);
	/* What libxcrypt makes of them: the canonical string. */
	r = crypt_rn("U*U", salt_bits, cd, sizeof(*cd));
	assert_non_null(r);
	assert_string_equal(
		r,
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
	r = crypt_rn("U*U", hash_bits, cd, sizeof(*cd));
	assert_non_null(r);
	assert_string_not_equal(r, hash_bits);
	free(cd);
}

/* Passwords over 72 bytes hash exactly as their first 72 bytes. */
static void test_long_passwords(void **state)
{
	static const unsigned char salt[16] = { 1, 2,  3,  4,  5,  6,  7,  8,
						9, 10, 11, 12, 13, 14, 15, 16 };
	struct buf h72 = BUF_INIT(128), h = BUF_INIT(128);
	char pw[301];
	size_t n;

	(void)state;
	for (n = 0; n < 300; n++)
		pw[n] = (char)(0x21 + (n * 7) % 94);
	pw[300] = '\0';
	assert_int_equal(
		auth_bcrypt_hash_salt(pw, 72, 4, salt, 'b', &h72, NULL), 0);
	for (n = 73; n <= 300; n += 19) {
		buf_reset(&h);
		assert_int_equal(auth_bcrypt_hash_salt(pw, n, 4, salt, 'b', &h,
						       NULL),
				 0);
		assert_string_equal(h.ptr, h72.ptr);
	}
	/* 71 bytes still count their NUL, so they differ from 72. */
	buf_reset(&h);
	assert_int_equal(auth_bcrypt_hash_salt(pw, 71, 4, salt, 'b', &h, NULL),
			 0);
	assert_string_not_equal(h.ptr, h72.ptr);
	/* verify() and hash() of a C string agree. */
	assert_int_equal(auth_bcrypt_verify(pw, h72.ptr), 0);
	buf_reset(&h);
	assert_int_equal(auth_bcrypt_hash(pw, 4, &h, NULL), 0);
	pw[72] = '\0';
	assert_int_equal(auth_bcrypt_verify(pw, h.ptr), 0);
	pw[71] = '\0';
	assert_int_equal(auth_bcrypt_verify(pw, h.ptr), TW_EUNAUTH);
	buf_release(&h72);
	buf_release(&h);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A sanity bound on the cost-12 time, not a benchmark. */
static void test_cost12_time(void **state)
{
	struct buf h = BUF_INIT(128);
	double t0, t1, t2;

	(void)state;
	t0 = now_s();
	assert_int_equal(auth_bcrypt_hash("timing", 12, &h, NULL), 0);
	t1 = now_s();
	assert_int_equal(auth_bcrypt_verify("timing", h.ptr), 0);
	t2 = now_s();
	printf("bcrypt cost 12: hash %.0f ms, verify %.0f ms\n",
	       (t1 - t0) * 1e3, (t2 - t1) * 1e3);
	assert_true(t1 - t0 >= 0.050 && t1 - t0 <= 5.0);
	assert_true(t2 - t1 >= 0.050 && t2 - t1 <= 5.0);
	buf_release(&h);
}

/* --- differential against libxcrypt ------------------------------------ */

static uint64_t rng_state;

/* splitmix64: reproducible from the printed seed. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(void)
{
	const char *s = getenv("TW_TEST_SEED");

	if (s && *s) {
		rng_state = strtoull(s, NULL, 10);
	} else {
		assert_true(sodium_init() >= 0);
		randombytes_buf(&rng_state, sizeof(rng_state));
	}
	printf("bcrypt differential: TW_TEST_SEED=%" PRIu64 "\n", rng_state);
}

/* A random password of 0..max_len bytes drawn from 1..255 (no NUL). */
static size_t random_password(char *pw, size_t max_len)
{
	size_t len = (size_t)(rng_next() % (max_len + 1)), i;

	for (i = 0; i < len; i++)
		pw[i] = (char)(1 + rng_next() % 255);
	pw[len] = '\0';
	return len;
}

struct diff_counts {
	unsigned cases, identical, ours_ok, theirs_ok, wrong_refused;
};

/*
 * One case: libxcrypt's crypt_gensalt_rn() encodes the 16 salt bytes and
 * crypt_rn() hashes; we hash the same bytes. The strings must be identical
 * and each implementation must accept the other's.
 */
static void diff_one(struct crypt_data *cd, const char *pw, size_t len,
		     int cost, char minor, struct diff_counts *c)
{
	unsigned char salt[16];
	char prefix[5] = { '$', '2', minor, '$', '\0' };
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char theirs[CRYPT_OUTPUT_SIZE];
	struct buf ours = BUF_INIT(128);
	const char *r;
	size_t i;

	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)rng_next();
	assert_non_null(crypt_gensalt_rn(prefix, (unsigned long)cost,
					 (const char *)salt, sizeof(salt),
					 setting, sizeof(setting)));
	r = crypt_rn(pw, setting, cd, sizeof(*cd));
	assert_non_null(r);
	assert_true(strlen(r) < sizeof(theirs));
	memcpy(theirs, r, strlen(r) + 1);

	assert_int_equal(auth_bcrypt_hash_salt(pw, len, cost, salt, minor,
					       &ours, NULL),
			 0);
	c->cases++;
	if (strcmp(ours.ptr, theirs) != 0)
		fail_msg("differs (minor %c, cost %d, %zu bytes): ours %s, "
			 "libxcrypt %s",
			 minor, cost, len, ours.ptr, theirs);
	c->identical++;
	/* Ours accepts libxcrypt's hash, libxcrypt reproduces ours. */
	assert_int_equal(auth_bcrypt_verify(pw, theirs), 0);
	c->ours_ok++;
	r = crypt_rn(pw, ours.ptr, cd, sizeof(*cd));
	assert_non_null(r);
	assert_string_equal(r, ours.ptr);
	c->theirs_ok++;
	/* A different password is refused by both. */
	if (len % 8 == 0) {
		char other[128];

		snprintf(other, sizeof(other), "%s%c", pw, 'x');
		if (len < AUTH_BCRYPT_MAX_PASSWORD) {
			assert_int_equal(auth_bcrypt_verify(other, ours.ptr),
					 TW_EUNAUTH);
			r = crypt_rn(other, ours.ptr, cd, sizeof(*cd));
			assert_non_null(r);
			assert_string_not_equal(r, ours.ptr);
			c->wrong_refused++;
		}
	}
	buf_release(&ours);
}

static void test_differential_libxcrypt(void **state)
{
	static const char minors[] = { 'b', 'a', 'y' };
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	struct diff_counts c4 = { 0 }, c10 = { 0 }, c12 = { 0 };
	char pw[101];
	size_t len;
	int i;

	(void)state;
	assert_non_null(cd);
	rng_seed();
	for (i = 0; i < 1000; i++) {
		len = random_password(pw, 100);
		diff_one(cd, pw, len, 4, minors[i % 3], &c4);
	}
	for (i = 0; i < 5; i++) {
		len = random_password(pw, 100);
		diff_one(cd, pw, len, 10, minors[i % 3], &c10);
	}
	for (i = 0; i < 2; i++) {
		len = random_password(pw, 100);
		diff_one(cd, pw, len, 12, minors[i % 3], &c12);
	}
	printf("bcrypt differential vs libxcrypt: cost 4: %u/%u identical, "
	       "%u cross-verified both ways, %u wrong passwords refused by "
	       "both; cost 10: %u/%u; cost 12: %u/%u\n",
	       c4.identical, c4.cases, c4.ours_ok, c4.wrong_refused,
	       c10.identical, c10.cases, c12.identical, c12.cases);
	assert_int_equal(c4.identical, 1000);
	assert_int_equal(c10.identical, 5);
	assert_int_equal(c12.identical, 2);
	free(cd);
}

/*
 * Random passwords made mostly of 0xff bytes, where libxcrypt's "$2a$"
 * safety measure applies: every "$2a$" hash must still equal libxcrypt's,
 * and some of them must differ from "$2b$" (else this tests nothing).
 */
static void test_differential_2a_safety(void **state)
{
	static const char pool[] = "\xff\xff\xff\xff\xff\xa3\x80\x7f"
				   "a1";
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	struct diff_counts c = { 0 };
	static const unsigned char salt[16] = { 0x5a };
	struct buf a = BUF_INIT(128), b = BUF_INIT(128);
	unsigned flipped = 0;
	char pw[16];
	int i;

	(void)state;
	assert_non_null(cd);
	rng_seed();
	for (i = 0; i < 300; i++) {
		size_t len = 1 + (size_t)(rng_next() % 12), k;

		for (k = 0; k < len; k++)
			pw[k] = pool[rng_next() % (sizeof(pool) - 1)];
		pw[len] = '\0';
		diff_one(cd, pw, len, 4, 'a', &c);
		buf_reset(&a);
		buf_reset(&b);
		assert_int_equal(auth_bcrypt_hash_salt(pw, len, 4, salt, 'a',
						       &a, NULL),
				 0);
		assert_int_equal(auth_bcrypt_hash_salt(pw, len, 4, salt, 'b',
						       &b, NULL),
				 0);
		if (strcmp(a.ptr + 3, b.ptr + 3) != 0)
			flipped++;
	}
	printf("bcrypt $2a$ safety: %u/%u identical to libxcrypt, %u of them "
	       "differ from $2b$\n",
	       c.identical, c.cases, flipped);
	assert_int_equal(c.identical, 300);
	assert_true(flipped > 0);
	buf_release(&a);
	buf_release(&b);
	free(cd);
}

/* libxcrypt computes every published vector, "$2x$" included. */
static void test_vectors_libxcrypt(void **state)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	size_t i;

	(void)state;
	assert_non_null(cd);
	for (i = 0; i < TW_ARRAY_SIZE(openwall_vectors); i++) {
		const struct vector *v = &openwall_vectors[i];
		const char *r = crypt_rn(v->password, v->hash, cd, sizeof(*cd));

		assert_non_null(r);
		assert_string_equal(r, v->hash);
	}
	free(cd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openwall_vectors),
		cmocka_unit_test(test_jbcrypt_vectors),
		cmocka_unit_test(test_pyca_passlib_vectors),
		cmocka_unit_test(test_2a_no_wraparound),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hash_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_noncanonical),
		cmocka_unit_test(test_long_passwords),
		cmocka_unit_test(test_cost12_time),
		cmocka_unit_test(test_differential_libxcrypt),
		cmocka_unit_test(test_differential_2a_safety),
		cmocka_unit_test(test_vectors_libxcrypt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
